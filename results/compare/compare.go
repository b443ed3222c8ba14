package compare

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/meshbench/meshbench/results"
)

// Alpha is the significance level: a change with p < Alpha is significant.
const Alpha = 0.05

// NoiseFloor is the smallest relative change of a Sampled figure that is
// called "inconclusive: too noisy" rather than "no significant change"
// when it is not significant.
const NoiseFloor = 0.05

// Verdict is what a comparison concludes about one figure.
type Verdict string

// The verdicts.
const (
	Better   Verdict = "better"
	Worse    Verdict = "worse"
	NoChange Verdict = "no significant change"
	TooNoisy Verdict = "inconclusive: too noisy"
)

// ErrNoOverlap is wrapped by Compare when the two runs have no case in
// common: they ran different scenarios or matrices.
var ErrNoOverlap = errors.New("the runs have no case in common")

// Row is the comparison of one figure of one case.
type Row struct {
	Case   string
	Metric string
	Kind   Kind
	// Base and Candidate are the medians over repetitions (Sampled) or
	// the values, in the metric's unit.
	Base, Candidate   float64
	BaseN, CandidateN int
	// Delta is the relative change, Candidate/Base - 1; ±Inf when Base is
	// 0 and Candidate is not.
	Delta float64
	// P is the t-test's p-value, NaN when no test applies (Exact and
	// Single figures, fewer than 2 repetitions on a side).
	P       float64
	Verdict Verdict

	m *metric
}

// worseDirection reports whether the candidate moved in the figure's bad
// direction, significant or not.
func (r *Row) worseDirection() bool {
	if r.m.higherBetter {
		return r.Candidate < r.Base
	}
	return r.Candidate > r.Base
}

// Format writes a value in the row's unit.
func (r *Row) Format(v float64) string { return r.m.format(v) }

// CaseStatus records a case that failed in either run: it has no rows.
type CaseStatus struct {
	Case                  string
	Base, Candidate       string // "ok" or "failed"
	BaseErr, CandidateErr string
}

// Report is the comparison of two runs.
type Report struct {
	Base, Candidate *results.Run
	Rows            []Row
	// Failed lists the cases that failed in either run.
	Failed []CaseStatus
	// Notes say what differs between the runs beyond their figures.
	Notes []string
	// Missing lists the exact and single figures one run has and the
	// other lacks (a probe that did not run or stopped working).
	Missing []Missing
	// OnlyBase and OnlyCandidate are the IDs of the cases found in one
	// run only, sorted: they are left out of the comparison.
	OnlyBase, OnlyCandidate []string
}

// Missing is a figure of a case that only one run has.
type Missing struct {
	Case, Metric string
	// InBase is true when the base has the figure and the candidate
	// lacks it, false the other way round.
	InBase bool
	// Value is the figure of the run that has it, in the metric's unit.
	Value string
}

// Compare pairs the cases of base and cand by ID and compares every figure
// of the cases both have, as benchstat compares the benchmarks two files
// share: a rerun of one datapath can be compared with a full run. The
// cases found in one run only are listed in OnlyBase and OnlyCandidate.
// It returns an error wrapping ErrNoOverlap when the runs have no case in
// common, and an error when a run has a case twice.
func Compare(base, cand *results.Run) (*Report, error) {
	onlyBase, onlyCand, err := overlap(base, cand)
	if err != nil {
		return nil, err
	}
	r := &Report{Base: base, Candidate: cand, OnlyBase: onlyBase, OnlyCandidate: onlyCand}
	r.Notes = notes(r)
	r.Notes = append(r.Notes, inconsistent("base", base)...)
	r.Notes = append(r.Notes, inconsistent("candidate", cand)...)
	byID := map[string]*results.Case{}
	for i := range cand.Cases {
		byID[cand.Cases[i].ID] = &cand.Cases[i]
	}
	for i := range base.Cases {
		b := &base.Cases[i]
		c := byID[b.ID]
		if c == nil {
			continue
		}
		if b.Status != "ok" || c.Status != "ok" {
			r.Failed = append(r.Failed, CaseStatus{b.ID, b.Status, c.Status, b.Error, c.Error})
			continue
		}
		for _, m := range metrics {
			bv, ok1 := m.values(base, b)
			cv, ok2 := m.values(cand, c)
			switch {
			case ok1 && ok2:
				r.Rows = append(r.Rows, compareFigure(b.ID, m, bv, cv))
			case ok1 != ok2:
				v := bv
				if ok2 {
					v = cv
				}
				r.Missing = append(r.Missing, Missing{b.ID, m.name, ok1, m.format(median(v))})
			}
		}
	}
	return r, nil
}

// overlap returns the IDs of the cases found in only one of the runs. It
// fails when a run has a case twice or the runs have no case in common.
func overlap(base, cand *results.Run) (onlyBase, onlyCand []string, err error) {
	if base == nil || cand == nil {
		return nil, nil, fmt.Errorf("compare runs: missing run")
	}
	ids := func(run *results.Run, which string) (map[string]bool, error) {
		m := map[string]bool{}
		for _, c := range run.Cases {
			if m[c.ID] {
				return nil, fmt.Errorf("compare runs: case %s appears twice in the %s run", c.ID, which)
			}
			m[c.ID] = true
		}
		return m, nil
	}
	b, err := ids(base, "base")
	if err != nil {
		return nil, nil, err
	}
	c, err := ids(cand, "candidate")
	if err != nil {
		return nil, nil, err
	}
	onlyBase, onlyCand = missing(base, c), missing(cand, b)
	if len(onlyBase) == len(base.Cases) {
		return nil, nil, fmt.Errorf("compare runs: %w (base: scenario %s, %d cases; candidate: scenario %s, %d cases); compare runs that share a matrix point, e.g. a rerun with --datapaths naming some of the base's",
			ErrNoOverlap, orUnknown(base.Scenario), len(b), orUnknown(cand.Scenario), len(c))
	}
	return onlyBase, onlyCand, nil
}

// missing returns the IDs of run's cases that others lacks, in run order.
func missing(run *results.Run, others map[string]bool) []string {
	var out []string
	for _, c := range run.Cases {
		if !others[c.ID] {
			out = append(out, c.ID)
		}
	}
	return out
}

// notes says what differs between the runs that a reader should weigh,
// one short line each. Scenario hashes that differ are noted only when
// the shared cases' durations and repetitions agree and no case is left
// out, for a subset rerun (--datapaths) has another hash by design; a
// difference in duration or repetitions is named.
func notes(r *Report) []string {
	var out []string
	base, cand := r.Base, r.Candidate
	byID := map[string]*results.Case{}
	for i := range cand.Cases {
		byID[cand.Cases[i].ID] = &cand.Cases[i]
	}
	var durations, reps bool
	for i := range base.Cases {
		b, c := &base.Cases[i], byID[base.Cases[i].ID]
		if c == nil || b.Status != "ok" || c.Status != "ok" {
			continue
		}
		durations = durations || b.DurationS != c.DurationS
		reps = reps || len(b.Repetitions) != len(c.Repetitions)
	}
	if durations {
		out = append(out, "the runs' durations differ: latency tails and CPU may not be comparable")
	}
	if reps {
		out = append(out, "the runs' repetition counts differ: the tests weigh them as they are")
	}
	if !durations && !reps && len(r.OnlyBase)+len(r.OnlyCandidate) == 0 && base.ScenarioHash != cand.ScenarioHash {
		out = append(out, "the scenarios differ (scenario hash), e.g. in warm-up: figures may not be comparable")
	}
	be, ce := base.Environment, cand.Environment
	var what []string
	if be.CPUModel != ce.CPUModel || be.CPUs != ce.CPUs {
		what = append(what, "CPU")
	}
	if be.Kernel != ce.Kernel {
		what = append(what, "kernel")
	}
	if len(what) > 0 {
		out = append(out, fmt.Sprintf("the runs come from different machines (%s): absolute latencies follow the machine", strings.Join(what, ", ")))
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// inconsistent notes, in one line per run, the successful cases whose
// latency summary disagrees with the medians of their repetitions, which
// Compare uses: the file was edited by hand or by a tool that forgot the
// repetitions.
func inconsistent(which string, run *results.Run) []string {
	var ids []string
	for _, c := range run.Cases {
		if c.Status != "ok" || len(c.Repetitions) == 0 {
			continue
		}
		want, _, _ := results.Aggregate(c.Repetitions)
		for _, pick := range []results.LatencyField{results.P50, results.P90, results.P99, results.P999} {
			if got, med := pick(c.LatencyUS), pick(want); math.Abs(got-med) > 0.005*math.Abs(med) {
				ids = append(ids, c.ID)
				break
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s: latency_us disagrees with the repetitions (compared instead) in %s", which, plural(len(ids), "case"))}
}

// compareFigure compares one figure's values.
func compareFigure(id string, m *metric, base, cand []float64) Row {
	r := Row{
		Case: id, Metric: m.name, Kind: m.kind, m: m,
		Base: median(base), Candidate: median(cand),
		BaseN: len(base), CandidateN: len(cand),
		P: math.NaN(),
	}
	r.Delta = relChange(r.Base, r.Candidate)
	direction := func(up bool) Verdict {
		if up == m.higherBetter {
			return Better
		}
		return Worse
	}
	switch m.kind {
	case Exact:
		r.Verdict = NoChange
		if r.Candidate != r.Base {
			r.Verdict = direction(r.Candidate > r.Base)
		}
	case Single:
		r.Verdict = NoChange
		if math.Abs(r.Delta) > m.noise {
			r.Verdict = direction(r.Candidate > r.Base)
		}
	case Sampled:
		var up bool
		r.P, up = test(base, cand)
		switch {
		case r.P < Alpha: // false for NaN
			r.Verdict = direction(up)
		case math.Abs(r.Delta) >= NoiseFloor:
			r.Verdict = TooNoisy
		default:
			r.Verdict = NoChange
		}
	}
	return r
}

// test runs Welch's t-test on the logarithms of base and cand (on the
// values when some are not positive) and says whether cand's mean is the
// higher. p is NaN when a side has fewer than 2 values.
func test(base, cand []float64) (p float64, up bool) {
	if len(base) < 2 || len(cand) < 2 {
		return math.NaN(), false
	}
	tb, tc := slices.Clone(base), slices.Clone(cand)
	if slices.IndexFunc(tb, nonPositive) < 0 && slices.IndexFunc(tc, nonPositive) < 0 {
		for i := range tb {
			tb[i] = math.Log(tb[i])
		}
		for i := range tc {
			tc[i] = math.Log(tc[i])
		}
	}
	up = mean(tc) > mean(tb)
	if constant(tb) && constant(tc) {
		// No spread on either side: the t-test is undefined, and equal
		// values are no change while different ones are certain.
		if tb[0] == tc[0] {
			return 1, false
		}
		return 0, up
	}
	t := &benchmath.DefaultThresholds
	cmp := benchmath.AssumeNormal.Compare(benchmath.NewSample(tb, t), benchmath.NewSample(tc, t))
	return cmp.P, up
}

func nonPositive(v float64) bool { return !(v > 0) }

func constant(xs []float64) bool {
	return slices.IndexFunc(xs, func(v float64) bool { return v != xs[0] }) < 0
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// relChange is cand/base - 1, 0 when both are 0, ±Inf when only base is.
func relChange(base, cand float64) float64 {
	switch {
	case base == cand:
		return 0
	case base == 0:
		return math.Copysign(math.Inf(1), cand)
	}
	return cand/base - 1
}
