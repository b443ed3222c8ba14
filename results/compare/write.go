package compare

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshbench/meshbench/results"
)

// Write renders the comparison as a table, one row per case and figure
// (cases named by what varies between them), then the failed cases, the
// verdict counts, the cases left out, the missing figures, the notes and
// how figures were tested.
func (r *Report) Write(w io.Writer) error {
	fmt.Fprintf(w, "base:      %s\ncandidate: %s\n", describeRun(r.Base.ID, r.Base.Scenario), describeRun(r.Candidate.ID, r.Candidate.Scenario))
	if len(r.Rows) > 0 {
		t := &results.Table{
			Header: []string{"CASE", "METRIC", "BASE", "CANDIDATE", "DELTA", "P", "VERDICT"},
			Number: []bool{false, false, true, true, true, true, false},
			Point:  1,
		}
		ids := make([]string, len(r.Rows))
		for i := range r.Rows {
			ids[i] = r.Rows[i].Case
		}
		labels := shortLabels(ids)
		for i := range r.Rows {
			row := &r.Rows[i]
			t.Rows = append(t.Rows, []string{labels[row.Case], row.Metric, row.Format(row.Base), row.Format(row.Candidate), formatDelta(row), pColumn(row), string(row.Verdict)})
		}
		if err := t.WriteTerminal(w); err != nil {
			return fmt.Errorf("render comparison: %w", err)
		}
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "%s: %s in base, %s in candidate%s\n", f.Case, f.Base, f.Candidate, failureDetail(f))
	}
	fmt.Fprintln(w, r.summary())
	for _, s := range r.leftOut() {
		fmt.Fprintln(w, "left out:", s)
	}
	for _, s := range r.missingLines() {
		fmt.Fprintln(w, "missing:", s)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	_, err := fmt.Fprintf(w, "P: Welch's t-test on log values over repetitions (α=%g); exact: deterministic figure; single: measured once per case, changes under its noise floor (memory 5%%, cpu 10%%) count as none.\n", Alpha)
	return err
}

func describeRun(id, scenario string) string {
	return fmt.Sprintf("run %s, scenario %s", orUnknown(id), orUnknown(scenario))
}

func failureDetail(f CaseStatus) string {
	var parts []string
	if f.BaseErr != "" {
		parts = append(parts, "base: "+f.BaseErr)
	}
	if f.CandidateErr != "" {
		parts = append(parts, "candidate: "+f.CandidateErr)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// summary counts the cases compared and the verdicts.
func (r *Report) summary() string {
	return fmt.Sprintf("%d cases compared: %s", len(r.Base.Cases)-len(r.OnlyBase), r.verdictCounts())
}

// leftOut says, one line per run, which cases only that run has.
func (r *Report) leftOut() []string {
	var out []string
	if len(r.OnlyBase) > 0 {
		out = append(out, countCases(r.OnlyBase)+" only in base, not compared")
	}
	if len(r.OnlyCandidate) > 0 {
		out = append(out, countCases(r.OnlyCandidate)+" only in candidate, not compared")
	}
	return out
}

// missingLines folds the figures one run lacks into a line per metric and
// side: "hops in 2 cases (sidecar, ebpf) missing in candidate".
func (r *Report) missingLines() []string {
	type key struct {
		metric string
		inBase bool
	}
	var keys []key
	ids := map[key][]string{}
	for _, m := range r.Missing {
		k := key{m.Metric, m.InBase}
		if ids[k] == nil {
			keys = append(keys, k)
		}
		ids[k] = append(ids[k], m.Case)
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s of %s, in %s only", k.metric, countCases(ids[k]), side(k.inBase))
	}
	return out
}

// countCases writes "1 case (sidecar)", "3 cases (none, sidecar 2)" or
// "8 cases of 4 datapaths": how many, and of which datapaths (the first
// part of a case ID), short enough for a line of its own.
func countCases(ids []string) string {
	var dps []string
	n := map[string]int{}
	for _, id := range ids {
		dp, _, _ := strings.Cut(id, "/")
		if n[dp] == 0 {
			dps = append(dps, dp)
		}
		n[dp]++
	}
	if len(dps) > 2 {
		return fmt.Sprintf("%s of %d datapaths", plural(len(ids), "case"), len(dps))
	}
	for i, dp := range dps {
		if n[dp] > 1 {
			dps[i] += " " + strconv.Itoa(n[dp])
		}
	}
	return fmt.Sprintf("%s (%s)", plural(len(ids), "case"), strings.Join(dps, ", "))
}

// plural writes "1 case" or "3 cases".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func pColumn(row *Row) string {
	switch row.Kind {
	case Exact:
		return "exact"
	case Single:
		return "single"
	}
	if math.IsNaN(row.P) {
		return "n<2"
	}
	return formatP(row.P)
}

func formatP(p float64) string {
	if p < 0.001 {
		return "<0.001"
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}

func formatDelta(row *Row) string {
	switch {
	case math.IsInf(row.Delta, 1):
		return "+∞"
	case math.IsInf(row.Delta, -1):
		return "-∞"
	case row.Delta == 0:
		return "0%"
	}
	s := strconv.FormatFloat(row.Delta*100, 'f', 1, 64) + "%"
	if row.Delta > 0 {
		s = "+" + s
	}
	return s
}

// Write renders the gate's verdict: each violation, the warnings, and a
// closing line.
func (g *GateResult) Write(w io.Writer) error {
	for _, v := range g.Violations {
		fmt.Fprintf(w, "REGRESSION %s: %s\n", v.Case, v.Reason)
	}
	for _, wn := range g.Warnings {
		fmt.Fprintln(w, "warning:", wn.String())
	}
	var err error
	if g.OK() {
		_, err = fmt.Fprintf(w, "gate: ok, %d cases within limits %s\n", g.Cases, g.Limits)
	} else {
		noun := "regressions"
		if len(g.Violations) == 1 {
			noun = "regression"
		}
		_, err = fmt.Fprintf(w, "gate: %d %s in %d cases (limits %s)\n", len(g.Violations), noun, g.Cases, g.Limits)
	}
	return err
}

// maxLine is the longest warning line Write prints, "warning: " included.
const maxLine = 100

// String writes the warning on one line: its message, then how many cases
// of which datapaths it applies to, or only how many when the datapaths
// would make the line longer than maxLine.
func (w Warning) String() string {
	if len(w.Cases) == 0 {
		return w.Message
	}
	s := w.Message + ": " + countCases(w.Cases)
	if utf8.RuneCountInString("warning: "+s) > maxLine {
		s = w.Message + ": " + plural(len(w.Cases), "case")
	}
	return s
}
