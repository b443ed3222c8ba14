package compare

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results"
)

// Violation is one regression beyond its limit.
type Violation struct {
	Case   string
	Metric string
	// Reason says what moved, by how much, and the limit it broke.
	Reason string
}

// GateResult is what Gate found.
type GateResult struct {
	Limits Limits
	// Cases is how many cases the runs have in common, the ones gated.
	Cases      int
	Violations []Violation
	// Warnings are what the gate does not fail on but a reader should
	// see: the comparison's notes and left-out cases, worsening beyond a
	// limit that is not significant, absolute latency that moved for
	// every datapath alike. Warnings with the same message are one, with
	// the cases they apply to.
	Warnings []Warning
}

// Warning is one thing the gate did not fail on.
type Warning struct {
	// Message is one short line, the same for every case it applies to.
	Message string
	// Cases are the cases it applies to, in the order found; none for a
	// warning about the runs.
	Cases []string
}

// warn adds msg for the case id ("" for none), merging it into an earlier
// warning with the same message.
func (g *GateResult) warn(id, msg string) {
	i := slices.IndexFunc(g.Warnings, func(w Warning) bool { return w.Message == msg })
	if i < 0 {
		g.Warnings = append(g.Warnings, Warning{Message: msg})
		i = len(g.Warnings) - 1
	}
	if id != "" {
		g.Warnings[i].Cases = append(g.Warnings[i].Cases, id)
	}
}

// OK reports whether the candidate is within the limits.
func (g *GateResult) OK() bool { return len(g.Violations) == 0 }

// Gate checks a comparison against limits; cases found in one run only
// are left out, with a warning. A case that succeeded in the base and
// failed in the candidate is always a violation, and so is an exact or
// single figure the base has and the candidate lacks, unless its metric's
// limit is off; one only the candidate has is a warning, and so is an
// overhead the candidate cannot have for want of a none case at its
// matrix point (a rerun of one datapath). Exact and Single figures violate
// their limit as soon as they worsen beyond it; Sampled figures (latency,
// overheads, rate, errors) only when the change is also significant.
// Whatever the limits and the base, a successful candidate case that fell
// short of its target rate (results.Case's RateShortfall) is a violation,
// and so is one without the achieved fraction: its figures were measured
// at a lighter load than asked, or by a build that could not tell.
func Gate(r *Report, limits Limits) *GateResult {
	g := &GateResult{Limits: limits, Cases: len(r.Base.Cases) - len(r.OnlyBase)}
	for _, n := range r.Notes {
		g.warn("", n)
	}
	for _, id := range r.OnlyBase {
		g.warn(id, "only in base, not compared")
	}
	for _, id := range r.OnlyCandidate {
		g.warn(id, "only in candidate, not compared")
	}
	only := map[string]bool{}
	for _, id := range r.OnlyCandidate {
		only[id] = true
	}
	for i := range r.Candidate.Cases {
		if c := &r.Candidate.Cases[i]; !only[c.ID] {
			if v, bad := rateViolation(c); bad {
				g.Violations = append(g.Violations, v)
			}
		}
	}
	for _, f := range r.Failed {
		switch {
		case f.Base == "ok" && f.Candidate != "ok":
			g.Violations = append(g.Violations, Violation{f.Case, "status",
				fmt.Sprintf("ran in the base but %s in the candidate: %s", f.Candidate, f.CandidateErr)})
		case f.Base != "ok" && f.Candidate != "ok":
			g.warn(f.Case, "failed in both runs, not compared")
		}
	}
	for _, m := range r.Missing {
		l, limited := limits[m.Metric]
		switch {
		case metricByName(m.Metric).kind == Sampled:
			if limited && !l.Off() {
				who := strings.TrimPrefix(side(!m.InBase), "the ")
				why := "missing in " + who
				if strings.HasSuffix(m.Metric, "_overhead") {
					why = who + " lacks none at this point"
				}
				g.warn(m.Case, fmt.Sprintf("%s not gated: %s", m.Metric, why))
			}
		case !m.InBase:
			g.warn(m.Case, m.Metric+" missing in base, not compared")
		case l.Off():
			g.warn(m.Case, fmt.Sprintf("%s missing in candidate, not gated (%s=off)", m.Metric, m.Metric))
		default:
			g.Violations = append(g.Violations, Violation{m.Case, m.Metric,
				fmt.Sprintf("%s: missing in candidate (baseline %s)", m.Metric, m.Value)})
		}
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		l, ok := limits[row.Metric]
		if !ok || l.Off() {
			g.noteUngatedLatency(r, row)
			continue
		}
		if !row.worseDirection() || !beyond(row, l) {
			continue
		}
		switch {
		case row.Kind != Sampled || row.Verdict == Worse:
			g.Violations = append(g.Violations, Violation{row.Case, row.Metric, describe(row, l)})
		default:
			g.warn(row.Case, fmt.Sprintf("beyond %s, not gated: %s", l, notSignificant(row)))
		}
	}
	return g
}

// side names the base (true) or the candidate.
func side(base bool) string {
	if base {
		return "the base"
	}
	return "the candidate"
}

// rateViolation says whether c, if it succeeded, did not achieve its
// target rate or does not say.
func rateViolation(c *results.Case) (Violation, bool) {
	switch {
	case c.Status != "ok", results.IsStream(*c), results.IsSearch(*c):
		// A stream has no rate; a search judged its own at every step.
		return Violation{}, false
	case c.AchievedFraction == nil:
		return Violation{c.ID, "rate", "achieved_fraction: missing in candidate, whose achieved rate cannot be judged"}, true
	case c.RateShortfall:
		return Violation{c.ID, "rate", fmt.Sprintf("achieved %.1f of %s req/s (%.1f%%), more than %.0f%% short of the target rate",
			c.AchievedRPS, strconv.FormatFloat(c.Rate, 'f', -1, 64), 100**c.AchievedFraction, 100*results.RateTolerance)}, true
	}
	return Violation{}, false
}

// beyond reports whether row worsened by more than l allows.
func beyond(row *Row, l Limit) bool {
	diff := math.Abs(row.Candidate - row.Base)
	if !l.Relative {
		return diff > l.Max
	}
	if row.Base == 0 {
		return diff > 0
	}
	return diff/math.Abs(row.Base) > l.Max
}

// latencyMetrics are the absolute latency figures.
var latencyMetrics = map[string]bool{"p50": true, "p90": true, "p99": true, "p999": true}

// noteUngatedLatency warns when none's absolute latency worsened and no
// limit gates it: every datapath's latency moves with none's, which
// overhead limits cancel by design (a slower machine does that). It warns
// on a significant rise, or on any rise beyond the percentile's overhead
// limit, so that a reader sees latency that moved everywhere.
func (g *GateResult) noteUngatedLatency(r *Report, row *Row) {
	if !latencyMetrics[row.Metric] || !row.worseDirection() {
		return
	}
	l, limited := g.Limits[row.Metric+"_overhead"]
	if row.Verdict != Worse && !(limited && beyond(row, l)) {
		return
	}
	for _, c := range r.Base.Cases {
		if c.ID == row.Case && c.Floor() {
			g.warn(row.Case, fmt.Sprintf("none's %s rose, not gated: overheads cancel it; %s=N%% gates it", row.Metric, row.Metric))
			return
		}
	}
}

func describe(row *Row, l Limit) string {
	s := change(row) + " exceeds " + l.String()
	if row.Kind == Sampled {
		s += " (" + pText(row.P) + ")"
	}
	return s
}

// change writes "p99_overhead 1.850× → 3.700× (+100.0%)", and the
// difference too for exact figures: "hops 14 → 15 (+1, +7.1%)".
func change(row *Row) string {
	delta := formatDelta(row)
	if row.Kind == Exact {
		delta = formatDiff(row.Candidate-row.Base) + ", " + delta
	}
	return fmt.Sprintf("%s %s → %s (%s)", row.Metric, row.Format(row.Base), row.Format(row.Candidate), delta)
}

// formatDiff writes a signed difference to 6 significant digits, so that
// float noise (6.04 - 6 = 0.03999999999999915) does not show: "+0.04".
func formatDiff(d float64) string {
	s := strconv.FormatFloat(d, 'g', 6, 64)
	if d >= 0 {
		s = "+" + s
	}
	return s
}

// pText writes a p-value as "p=0.012" or "p<0.001".
func pText(p float64) string {
	s := formatP(p)
	if strings.HasPrefix(s, "<") {
		return "p" + s
	}
	return "p=" + s
}

func notSignificant(row *Row) string {
	if math.IsNaN(row.P) {
		return "too few repetitions"
	}
	return fmt.Sprintf("not significant (p≥%g)", Alpha)
}
