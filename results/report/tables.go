package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/meshbench/meshbench/results"
)

// table is a report table, rendered to the terminal, Markdown or HTML.
type table struct {
	header []string
	// number marks right-aligned columns.
	number []bool
	// point is how many leading columns name the matrix point; a value
	// repeated down them is shown once.
	point int
	rows  [][]string
	// notes follow the table.
	notes []string
}

// column is one column: its header and how a case fills it.
type column struct {
	header string
	number bool
	cell   func(c *results.Case) string
}

// build fills a table with one row per case, in section order.
func build(v *view, cols []column, point int, keep func(c *results.Case) bool) table {
	t := table{point: point}
	for _, col := range cols {
		t.header = append(t.header, col.header)
		t.number = append(t.number, col.number)
	}
	for _, s := range v.sections {
		for _, c := range s.cases {
			if !keep(c) {
				continue
			}
			row := make([]string, len(cols))
			for i, col := range cols {
				row[i] = col.cell(c)
			}
			t.rows = append(t.rows, row)
		}
	}
	return t
}

// pointColumns name the matrix point, leaving out dimensions that do not
// vary in the run.
func pointColumns(v *view) []column {
	varies := func(f func(c *results.Case) string) bool {
		cs := v.run.Cases
		return slices.ContainsFunc(cs, func(c results.Case) bool { return f(&c) != f(&cs[0]) })
	}
	cols := []column{{header: "PLACEMENT", cell: func(c *results.Case) string { return c.Placement }}}
	services := func(c *results.Case) string { return strconv.Itoa(c.Services) }
	if varies(services) {
		cols = append(cols, column{header: "SERVICES", number: true, cell: services})
	}
	cols = append(cols, column{header: "TARGET RPS", number: true, cell: func(c *results.Case) string {
		return strconv.FormatFloat(c.Rate, 'f', -1, 64)
	}})
	conns := func(c *results.Case) string { return strconv.Itoa(c.Connections) }
	if varies(conns) {
		cols = append(cols, column{header: "CONNS", number: true, cell: conns})
	}
	payload := func(c *results.Case) string {
		return results.FormatBytes(c.RequestBytes) + "/" + results.FormatBytes(c.ResponseBytes)
	}
	if varies(payload) {
		cols = append(cols, column{header: "REQ/RESP", number: true, cell: payload})
	}
	return cols
}

// measured makes a column of a figure a failed case does not have.
func measured(header string, f func(c *results.Case) string) column {
	return column{header: header, number: true, cell: func(c *results.Case) string {
		if failed(c) {
			return "-"
		}
		return f(c)
	}}
}

// resultsTable is the main table of report.md and report.html: what the
// terminal table shows, with the overhead vs none beside the latencies.
func resultsTable(v *view) table {
	has := func(f func(c *results.Case) bool) bool {
		return slices.ContainsFunc(v.run.Cases, func(c results.Case) bool { return f(&c) })
	}
	cols := pointColumns(v)
	point := len(cols)
	cols = append(cols,
		column{header: "DATAPATH", cell: results.DatapathLabel},
		measured("ACHIEVED RPS", func(c *results.Case) string { return strconv.FormatFloat(c.AchievedRPS, 'f', 1, 64) }),
		measured("P50", func(c *results.Case) string { return results.FormatMicros(c.LatencyUS.P50) }),
		measured("P90", func(c *results.Case) string { return results.FormatMicros(c.LatencyUS.P90) }),
		measured("P99", func(c *results.Case) string { return results.FormatMicros(c.LatencyUS.P99) }),
		measured("P99.9", func(c *results.Case) string { return results.FormatMicros(c.LatencyUS.P999) }),
		measured("MAX", func(c *results.Case) string { return results.FormatMicros(c.LatencyUS.Max) }),
		measured("ERRORS", func(c *results.Case) string { return strconv.FormatFloat(c.ErrorRate*100, 'f', 2, 64) + "%" }),
		measured("P50 VS NONE", func(c *results.Case) string {
			return ratio(c, func(o *results.Overhead) results.Estimate { return o.Ratio.P50 })
		}),
		measured("P99 VS NONE", func(c *results.Case) string {
			return ratio(c, func(o *results.Overhead) results.Estimate { return o.Ratio.P99 })
		}),
	)
	if has(func(c *results.Case) bool { return len(c.NodeCosts) > 0 }) {
		cols = append(cols,
			measured("PROXIES/NODE", results.BusiestNode(func(n results.NodeCost) float64 { return float64(n.Proxies) }, results.FormatNumber)),
			measured("DP MEM/NODE", results.BusiestNode(func(n results.NodeCost) float64 { return n.DatapathMemoryBytesMean }, results.FormatMemory)),
			measured("DP CPU/1K REQ", results.BusiestNode(func(n results.NodeCost) float64 { return n.DatapathCPUPer1kRequests }, results.FormatSeconds)),
		)
	}
	if has(func(c *results.Case) bool { return c.Path != nil }) {
		cols = append(cols, measured("HOPS/REQ", func(c *results.Case) string {
			if c.Path == nil {
				return "-"
			}
			return results.FormatNumber(c.Path.HopsPerRequest)
		}))
	}
	var failures []string
	if has(failed) {
		cols = append(cols, column{header: "STATUS", cell: func(c *results.Case) string {
			if !failed(c) {
				return c.Status
			}
			failures = append(failures, fmt.Sprintf("[%d] %s: %s", len(failures)+1, c.ID, c.Error))
			return fmt.Sprintf("%s [%d]", c.Status, len(failures))
		}})
	}
	t := build(v, cols, point, func(*results.Case) bool { return true })
	t.notes = append(failures,
		"Latencies are medians over repetitions, from each request's intended send time; VS NONE is the median of the per-repetition ratios to none at the same point; per-node figures are the busiest node's.")
	return t
}

// ratio writes an overhead ratio, or "-" for none and cases without one.
func ratio(c *results.Case, f func(*results.Overhead) results.Estimate) string {
	if c.OverheadVsNone == nil {
		return "-"
	}
	return strconv.FormatFloat(f(c.OverheadVsNone).Median, 'f', 2, 64) + "×"
}

// overheadTable details, for every successful case, its overhead vs none
// with confidence intervals and the repetitions' noise.
func overheadTable(v *view) table {
	cols := pointColumns(v)
	point := len(cols)
	withCI := func(e results.Estimate, format func(float64) string) string {
		if e.Lo == e.Hi {
			return format(e.Median)
		}
		return fmt.Sprintf("%s (%s–%s)", format(e.Median), format(e.Lo), format(e.Hi))
	}
	times := func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) + "×" }
	added := func(us float64) string {
		if us < 0 {
			return "-" + results.FormatMicros(-us)
		}
		return "+" + results.FormatMicros(us)
	}
	overhead := func(f func(o *results.Overhead) string) func(c *results.Case) string {
		return func(c *results.Case) string {
			if c.OverheadVsNone == nil {
				return "-"
			}
			return f(c.OverheadVsNone)
		}
	}
	percent := func(x float64) string { return strconv.FormatFloat(x*100, 'f', 1, 64) + "%" }
	cols = append(cols,
		column{header: "DATAPATH", cell: results.DatapathLabel},
		column{header: "REPS", number: true, cell: func(c *results.Case) string { return strconv.Itoa(c.Stats.Repetitions) }},
		column{header: "P50 VS NONE", number: true, cell: overhead(func(o *results.Overhead) string { return withCI(o.Ratio.P50, times) })},
		column{header: "P99 VS NONE", number: true, cell: overhead(func(o *results.Overhead) string { return withCI(o.Ratio.P99, times) })},
		column{header: "P99 ADDED", number: true, cell: overhead(func(o *results.Overhead) string { return withCI(o.AddedUS.P99, added) })},
		column{header: "P99", number: true, cell: func(c *results.Case) string { return withCI(c.Stats.LatencyUS.P99, results.FormatMicros) }},
		column{header: "P99 CV", number: true, cell: func(c *results.Case) string { return percent(c.Stats.LatencyUS.P99.CV) }},
		column{header: "RPS CV", number: true, cell: func(c *results.Case) string { return percent(c.Stats.AchievedRPS.CV) }},
	)
	t := build(v, cols, point, func(c *results.Case) bool { return c.Stats != nil })
	t.notes = []string{ciNote(v)}
	return t
}

// ciNote says what the (lo–hi) ranges are for the run's repetition counts.
func ciNote(v *view) string {
	var ns []int
	for _, c := range v.run.Cases {
		if c.Stats != nil && !slices.Contains(ns, c.Stats.Repetitions) {
			ns = append(ns, c.Stats.Repetitions)
		}
	}
	slices.Sort(ns)
	var levels []string
	for _, n := range ns {
		if n < 2 {
			levels = append(levels, "none with 1 repetition")
			continue
		}
		levels = append(levels, fmt.Sprintf("%.3g%% with %d repetitions", results.IntervalConfidence(n)*100, n))
	}
	s := "(lo–hi) is a distribution-free confidence interval of the median over repetitions: " + strings.Join(levels, ", ")
	if len(ns) > 0 && ns[len(ns)-1] < 6 {
		s += "; 95% needs 6 repetitions or more"
	}
	return s + ". VS NONE pairs each repetition with none's of the same index; CV is the repetitions' coefficient of variation."
}

// writeTerminal renders t with tablewriter, point columns merged.
func (t table) writeTerminal(w io.Writer) error {
	align := make([]tw.Align, len(t.header))
	merge := tw.NewMapper[int, bool]()
	for i := range t.header {
		align[i] = tw.AlignLeft
		if t.number[i] {
			align[i] = tw.AlignRight
		}
		if i < t.point {
			merge.Set(i, true)
		}
	}
	tab := tablewriter.NewTable(w, tablewriter.WithConfig(tablewriter.Config{
		Header: tw.CellConfig{Formatting: tw.CellFormatting{AutoFormat: tw.Off}},
		Row: tw.CellConfig{
			Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone},
			Merging:    tw.CellMerging{Mode: tw.MergeHierarchical, ByColumnIndex: merge},
			Alignment:  tw.CellAlignment{PerColumn: align},
		},
	}))
	tab.Header(t.header)
	for _, r := range t.rows {
		if err := tab.Append(r); err != nil {
			return fmt.Errorf("render table: %w", err)
		}
	}
	if err := tab.Render(); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	for _, n := range t.notes {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return fmt.Errorf("render table: %w", err)
		}
	}
	return nil
}

// shownRows returns the rows with a point value blanked where it and the
// values left of it repeat the row above's, so each point reads as a block.
func (t table) shownRows() [][]string {
	out := make([][]string, len(t.rows))
	for i, r := range t.rows {
		out[i] = slices.Clone(r)
		for j := 0; i > 0 && j < t.point && slices.Equal(r[:j+1], t.rows[i-1][:j+1]); j++ {
			out[i][j] = ""
		}
	}
	return out
}

// writeMarkdown renders t as a GitHub-flavoured Markdown table.
func (t table) writeMarkdown(w io.Writer) {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintf(w, "| %s |\n|", strings.Join(t.header, " | "))
	for i := range t.header {
		if t.number[i] {
			fmt.Fprint(w, "---:|")
		} else {
			fmt.Fprint(w, "---|")
		}
	}
	fmt.Fprintln(w)
	for _, r := range t.shownRows() {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = esc(c)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	for _, n := range t.notes {
		fmt.Fprintf(w, "%s\n\n", n)
	}
}
