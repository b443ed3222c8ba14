package compare

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results"
)

// Write renders the comparison as a table, one row per case and figure,
// then the failed cases, notes and how figures were tested.
func (r *Report) Write(w io.Writer) error {
	fmt.Fprintf(w, "base:      %s\ncandidate: %s\n", describeRun(r.Base.ID, r.Base.Scenario), describeRun(r.Candidate.ID, r.Candidate.Scenario))
	if len(r.Rows) > 0 {
		t := &results.Table{
			Header: []string{"CASE", "METRIC", "BASE", "CANDIDATE", "DELTA", "P", "VERDICT"},
			Number: []bool{false, false, true, true, true, true, false},
			Point:  1,
		}
		for i := range r.Rows {
			row := &r.Rows[i]
			t.Rows = append(t.Rows, []string{row.Case, row.Metric, row.Format(row.Base), row.Format(row.Candidate), formatDelta(row), pColumn(row), string(row.Verdict)})
		}
		if err := t.WriteTerminal(w); err != nil {
			return fmt.Errorf("render comparison: %w", err)
		}
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "%s: %s in base, %s in candidate%s\n", f.Case, f.Base, f.Candidate, failureDetail(f))
	}
	fmt.Fprintln(w, r.summary())
	for _, m := range r.Missing {
		if m.InBase {
			fmt.Fprintf(w, "missing: %s %s: missing in candidate (baseline %s)\n", m.Case, m.Metric, m.Value)
		} else {
			fmt.Fprintf(w, "missing: %s %s: missing in base (candidate %s)\n", m.Case, m.Metric, m.Value)
		}
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

// summary counts the verdicts.
func (r *Report) summary() string {
	counts := map[Verdict]int{}
	for _, row := range r.Rows {
		counts[row.Verdict]++
	}
	var parts []string
	for _, v := range []Verdict{Worse, Better, TooNoisy, NoChange} {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no figures compared")
	}
	s := fmt.Sprintf("%d cases: %s", len(r.Base.Cases), strings.Join(parts, ", "))
	if len(r.Failed) > 0 {
		s += fmt.Sprintf("; %d failed in a run", len(r.Failed))
	}
	return s
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
	for _, s := range g.Warnings {
		fmt.Fprintln(w, "warning:", s)
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
