package compare

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results"
)

// markdownMetrics are the columns of the Markdown table, with their
// headers; the other figures are summed up under it when they worsened.
var markdownMetrics = []struct{ name, header string }{
	{"p50", "p50"}, {"p99", "p99"}, {"p99_overhead", "p99 ×none"}, {"rps", "rps"},
	{"errors", "errors"}, {"hops", "hops"}, {"proxies", "proxies"}, {"memory", "memory"}, {"cpu", "cpu"},
}

// Verdict marks in Markdown cells.
const (
	markWorse  = "❌"
	markBetter = "✅"
	markNoisy  = "❔"
)

// summaryRow is one case of the summary table: its short label, and
// either the rows of the table's metrics (nil where not measured) or why
// it has none.
type summaryRow struct {
	Label  string
	Failed string
	Rows   []*Row
}

// summary returns the summary table's rows, one per case compared or
// failed, in the base's order, and the lines that go under it: figures
// outside the table that worsened, failures, cases left out, missing
// figures and notes.
func (r *Report) summaryTable() (rows []summaryRow, lines []string) {
	byCase := map[string]map[string]*Row{}
	for i := range r.Rows {
		row := &r.Rows[i]
		if byCase[row.Case] == nil {
			byCase[row.Case] = map[string]*Row{}
		}
		byCase[row.Case][row.Metric] = row
	}
	failed := map[string]CaseStatus{}
	for _, f := range r.Failed {
		failed[f.Case] = f
	}
	var ids []string
	for _, c := range r.Base.Cases {
		if _, ok := failed[c.ID]; ok || byCase[c.ID] != nil {
			ids = append(ids, c.ID)
		}
	}
	labels := shortLabels(ids)
	for _, id := range ids {
		sr := summaryRow{Label: labels[id]}
		if f, ok := failed[id]; ok {
			sr.Failed = fmt.Sprintf("%s in base, %s in candidate", f.Base, f.Candidate)
		} else {
			for _, m := range markdownMetrics {
				sr.Rows = append(sr.Rows, byCase[id][m.name])
			}
		}
		rows = append(rows, sr)
	}
	lines = r.otherWorse()
	for _, f := range r.Failed {
		lines = append(lines, fmt.Sprintf("%s: %s in base, %s in candidate%s", labels[f.Case], f.Base, f.Candidate, failureDetail(f)))
	}
	for _, s := range r.leftOut() {
		lines = append(lines, "Left out: "+s+".")
	}
	for _, s := range r.missingLines() {
		lines = append(lines, "Missing: "+s+".")
	}
	for _, n := range r.Notes {
		lines = append(lines, "Note: "+n+".")
	}
	return rows, lines
}

// title and subtitle head the Markdown and HTML summaries.
func (r *Report) title() string { return "meshbench compare: " + r.verdictCounts() }

func (r *Report) subtitle(code func(string) string) string {
	return fmt.Sprintf("Base %s (%s) → candidate %s (%s), %d cases compared.",
		code(orUnknown(r.Base.ID)), orUnknown(r.Base.Scenario), code(orUnknown(r.Candidate.ID)), orUnknown(r.Candidate.Scenario), len(r.Base.Cases)-len(r.OnlyBase))
}

// legend explains the summary table's marks, named worse, better and
// noisy.
func legend(worse, better, noisy string) string {
	return fmt.Sprintf("%s: worse, %s: better, significantly (Welch's t-test over repetitions, p < %g), or any change of hops and proxies, "+
		"a change beyond 5%% (memory) or 10%% (cpu); %s: a change of 5%% or more that is not significant. "+
		"Errors in percentage points, hops and proxies as differences; –: not measured.", worse, better, Alpha, noisy)
}

// WriteMarkdown renders the comparison for a pull-request comment: a
// heading with the verdict counts, one table with a row per case (named
// by what varies between the cases) and a column per main figure holding
// its rounded change, marked when significant, then a line per left-out
// case set, failure, missing figure and note.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n%s\n\n", r.title(), r.subtitle(func(s string) string { return "`" + s + "`" }))
	rows, lines := r.summaryTable()
	t := &results.Table{Header: []string{"case"}, Number: []bool{false}}
	for _, m := range markdownMetrics {
		t.Header = append(t.Header, m.header)
		t.Number = append(t.Number, true)
	}
	for _, sr := range rows {
		cells := []string{sr.Label}
		if sr.Failed != "" {
			cells = append(cells, sr.Failed)
		}
		for _, row := range sr.Rows {
			cells = append(cells, markdownCell(row))
		}
		for len(cells) < len(t.Header) {
			cells = append(cells, "")
		}
		t.Rows = append(t.Rows, cells)
	}
	if err := t.WriteMarkdown(&b); err != nil {
		return err
	}
	b.WriteString(legend(markWorse, markBetter, markNoisy) + "\n\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(l, "\n", " "))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	return nil
}

// verdictCounts writes "2 worse, 1 better, 30 no significant change; 1
// case failed", counting figures of cases.
func (r *Report) verdictCounts() string {
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
	s := strings.Join(parts, ", ")
	if len(parts) == 0 {
		s = "no figures compared"
	}
	switch len(r.Failed) {
	case 0:
	case 1:
		s += "; 1 case failed"
	default:
		s += fmt.Sprintf("; %d cases failed", len(r.Failed))
	}
	return s
}

// otherWorse says which figures outside the table worsened significantly.
func (r *Report) otherWorse() []string {
	shown := func(name string) bool {
		return slices.ContainsFunc(markdownMetrics, func(m struct{ name, header string }) bool { return m.name == name })
	}
	var names []string
	ids := map[string][]string{}
	for _, row := range r.Rows {
		if row.Verdict != Worse || shown(row.Metric) {
			continue
		}
		if ids[row.Metric] == nil {
			names = append(names, row.Metric)
		}
		ids[row.Metric] = append(ids[row.Metric], row.Case)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("Also %s: %s of %s.", Worse, n, countCases(ids[n]))
	}
	return out
}

// markdownCell writes a figure's change, rounded, with its verdict's mark
// (plain text: the table escapes Markdown in its cells).
func markdownCell(row *Row) string {
	s, v := changeCell(row)
	switch v {
	case Worse:
		return markWorse + " " + s
	case Better:
		return markBetter + " " + s
	case TooNoisy:
		return markNoisy + " " + s
	}
	return s
}

// changeCell writes a figure's change, rounded (errors in percentage
// points, exact figures as differences, "=" for none, "–" for a figure
// not measured), and the verdict to mark it with.
func changeCell(row *Row) (string, Verdict) {
	if row == nil {
		return "–", NoChange
	}
	if row.Kind != Exact && row.Metric != "errors" {
		return roundedDelta(row.Delta), row.Verdict
	}
	d := row.Candidate - row.Base
	if d == 0 {
		return "=", row.Verdict
	}
	s := formatDiff(math.Round(d*100) / 100)
	if row.Metric == "errors" {
		s += " pp"
	}
	return s, row.Verdict
}

// roundedDelta writes a relative change in percent, to one decimal under
// 10% and whole above ("+4.2%", "+12%", "-0.3%"), "0%" for none.
func roundedDelta(d float64) string {
	switch {
	case math.IsInf(d, 1):
		return "+∞"
	case math.IsInf(d, -1):
		return "-∞"
	case d == 0:
		return "0%"
	}
	pct := d * 100
	digits := 1
	if math.Abs(pct) >= 10 {
		digits = 0
	}
	s := strconv.FormatFloat(pct, 'f', digits, 64) + "%"
	if pct > 0 {
		s = "+" + s
	}
	return s
}

// shortLabels names each case by the parts of its ID that differ between
// the cases, keeping the datapath: "sidecar/cross-node" when every case
// has svc=1/rate=1000/conns=8/req=0/resp=1024.
func shortLabels(ids []string) map[string]string {
	parts := make([][]string, len(ids))
	n := 0
	for i, id := range ids {
		parts[i] = strings.Split(id, "/")
		n = max(n, len(parts[i]))
	}
	varies := make([]bool, n)
	varies[0] = true
	for j := 1; j < n; j++ {
		for i := range parts {
			if j >= len(parts[i]) || j >= len(parts[0]) || parts[i][j] != parts[0][j] {
				varies[j] = true
			}
		}
	}
	out := map[string]string{}
	for i, id := range ids {
		var keep []string
		for j, p := range parts[i] {
			if varies[j] {
				keep = append(keep, p)
			}
		}
		out[id] = strings.Join(keep, "/")
	}
	return out
}
