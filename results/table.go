package results

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// Column is one column of a table of cases: its header, how a case fills
// its cell, and whether the cell is a figure (right-aligned).
type Column struct {
	Header string
	Number bool
	Cell   func(c *Case) string
}

// Table is a table of cases whose cells are written once, then rendered to
// a terminal (WriteTerminal), Markdown (WriteMarkdown) or HTML (from
// Header, Number and ShownRows).
type Table struct {
	Header []string
	// Number marks the right-aligned columns.
	Number []bool
	// Point is how many leading columns name the matrix point; a value
	// repeated down them is shown once, so that each point reads as a
	// block.
	Point int
	Rows  [][]string
	// Notes follow the table, one paragraph each.
	Notes []string
}

// NewTable fills a table with one row per case, in order: the point
// columns first, then cols.
func NewTable(cases []*Case, point, cols []Column) *Table {
	all := append(slices.Clone(point), cols...)
	t := &Table{Point: len(point)}
	for _, col := range all {
		t.Header = append(t.Header, col.Header)
		t.Number = append(t.Number, col.Number)
	}
	for _, c := range cases {
		row := make([]string, len(all))
		for i, col := range all {
			row[i] = col.Cell(c)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// WriteTable renders run's cases as a terminal table (ResultsTable).
func WriteTable(w io.Writer, run *Run) error {
	return ResultsTable(run.Cases).WriteTerminal(w)
}

// ResultsTable builds the table every report starts with: one row per
// case, the datapaths of one matrix point on adjacent rows, points in order
// of first appearance. Columns for matrix dimensions that do not vary, and
// for per-node costs and hops per request when no case measured them, are
// left out; figures are added after the error rate. Per-node costs are
// those of the busiest node, the one a node must be sized for. Failed cases
// show their status, and their errors are the table's notes.
func ResultsTable(cases []Case, figures ...Column) *Table {
	ordered := groupByPoint(cases)
	has := func(f func(c *Case) bool) bool { return slices.ContainsFunc(ordered, f) }
	cols := []Column{
		{Header: "DATAPATH", Cell: DatapathLabel},
		Measured("ACHIEVED RPS", achievedCell),
		Measured("P50", func(c *Case) string { return FormatMicros(c.LatencyUS.P50) }),
		Measured("P90", func(c *Case) string { return FormatMicros(c.LatencyUS.P90) }),
		Measured("P99", func(c *Case) string { return FormatMicros(c.LatencyUS.P99) }),
		Measured("P99.9", func(c *Case) string { return FormatMicros(c.LatencyUS.P999) }),
		Measured("MAX", func(c *Case) string { return FormatMicros(c.LatencyUS.Max) }),
		Measured("ERRORS", func(c *Case) string { return strconv.FormatFloat(c.ErrorRate*100, 'f', 2, 64) + "%" }),
	}
	if has(func(c *Case) bool { return !failed(c) && c.ConnectUS != nil }) {
		cols = append(cols, Measured("CONNECT P50/P99", func(c *Case) string {
			if c.ConnectUS == nil {
				return "-"
			}
			return FormatMicros(c.ConnectUS.P50) + "/" + FormatMicros(c.ConnectUS.P99)
		}))
	}
	cols = append(cols, figures...)
	if has(func(c *Case) bool { return !failed(c) && c.PacerLatenessUS != nil }) {
		cols = append(cols, Measured("SENT LATE P50/P99", func(c *Case) string {
			if c.PacerLatenessUS == nil {
				return "-"
			}
			return FormatMicros(c.PacerLatenessUS.P50) + "/" + FormatMicros(c.PacerLatenessUS.P99)
		}))
	}
	if has(func(c *Case) bool { return len(c.NodeCosts) > 0 }) {
		cols = append(cols,
			Measured("PROXIES/NODE", BusiestNode(func(n NodeCost) float64 { return float64(n.Proxies) }, FormatNumber)),
			Measured("DP MEM/NODE", BusiestNode(func(n NodeCost) float64 { return n.DatapathMemoryBytesMean }, FormatMemory)),
			Measured("DP CPU/1K REQ", BusiestNode(func(n NodeCost) float64 { return n.DatapathCPUPer1kRequests }, FormatSeconds)),
		)
	}
	if has(func(c *Case) bool { return c.Path != nil }) {
		cols = append(cols, Measured("HOPS/REQ", func(c *Case) string {
			if c.Path == nil {
				return "-"
			}
			return FormatNumber(c.Path.HopsPerRequest)
		}))
	}
	// Failed cases are numbered in row order; their errors follow.
	var failures []string
	number := map[*Case]int{}
	for _, c := range ordered {
		if failed(c) {
			failures = append(failures, fmt.Sprintf("[%d] %s: %s", len(failures)+1, c.ID, c.Error))
			number[c] = len(failures)
		}
	}
	if len(failures) > 0 {
		cols = append(cols, Column{Header: "STATUS", Cell: func(c *Case) string {
			if !failed(c) {
				return c.Status
			}
			return fmt.Sprintf("%s [%d]", c.Status, number[c])
		}})
	}
	t := NewTable(ordered, PointColumns(cases), cols)
	t.Notes = failures
	if has(func(c *Case) bool { return !failed(c) && c.RateShortfall }) {
		t.Notes = append(t.Notes, fmt.Sprintf("SHORT: the case achieved less than %.0f%% of its target rate (over the measured time, first intended send to last actual send); its latencies are those of a lighter load than asked.", 100*(1-RateTolerance)))
	}
	return t
}

// achievedCell writes a case's achieved rate, with its share of the target
// when it fell short.
func achievedCell(c *Case) string {
	s := strconv.FormatFloat(c.AchievedRPS, 'f', 1, 64)
	if c.RateShortfall && c.AchievedFraction != nil {
		s += fmt.Sprintf(" (%.1f%%) SHORT", 100**c.AchievedFraction)
	}
	return s
}

// PointColumns name the matrix point of a case, leaving out the
// dimensions that do not vary among cases.
func PointColumns(cases []Case) []Column {
	varies := func(f func(c *Case) string) bool {
		return slices.ContainsFunc(cases, func(c Case) bool { return f(&c) != f(&cases[0]) })
	}
	var cols []Column
	if protocol := (*Case).ProtocolName; varies(protocol) {
		cols = append(cols, Column{Header: "PROTOCOL", Cell: protocol})
	}
	cols = append(cols, Column{Header: "PLACEMENT", Cell: func(c *Case) string { return c.Placement }})
	services := func(c *Case) string { return strconv.Itoa(c.Services) }
	if varies(services) {
		cols = append(cols, Column{Header: "SERVICES", Number: true, Cell: services})
	}
	cols = append(cols, Column{Header: "TARGET RPS", Number: true, Cell: func(c *Case) string {
		return strconv.FormatFloat(c.Rate, 'f', -1, 64)
	}})
	conns := func(c *Case) string { return strconv.Itoa(c.Connections) }
	if varies(conns) {
		cols = append(cols, Column{Header: "CONNS", Number: true, Cell: conns})
	}
	payload := func(c *Case) string { return FormatBytes(c.RequestBytes) + "/" + FormatBytes(c.ResponseBytes) }
	if varies(payload) {
		cols = append(cols, Column{Header: "REQ/RESP", Number: true, Cell: payload})
	}
	return cols
}

// Measured makes a column of a figure f, which a failed case does not
// have: its cell is "-".
func Measured(header string, f func(c *Case) string) Column {
	return Column{Header: header, Number: true, Cell: func(c *Case) string {
		if failed(c) {
			return "-"
		}
		return f(c)
	}}
}

// groupByPoint orders cases by matrix point, points in order of first
// appearance, and keeps the run's datapath order within a point.
func groupByPoint(in []Case) []*Case {
	rank := map[Point]int{}
	out := make([]*Case, len(in))
	for i := range in {
		out[i] = &in[i]
		if _, ok := rank[in[i].Point()]; !ok {
			rank[in[i].Point()] = len(rank)
		}
	}
	slices.SortStableFunc(out, func(a, b *Case) int { return rank[a.Point()] - rank[b.Point()] })
	return out
}

func failed(c *Case) bool { return c.Status != "ok" }

// WriteTerminal renders t with tablewriter, point columns merged, then its
// notes.
func (t *Table) WriteTerminal(w io.Writer) error {
	align := make([]tw.Align, len(t.Header))
	merge := tw.NewMapper[int, bool]()
	for i := range t.Header {
		align[i] = tw.AlignLeft
		if t.Number[i] {
			align[i] = tw.AlignRight
		}
		if i < t.Point {
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
	tab.Header(t.Header)
	for _, r := range t.Rows {
		if err := tab.Append(r); err != nil {
			return fmt.Errorf("render table: %w", err)
		}
	}
	if err := tab.Render(); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	for _, n := range t.Notes {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return fmt.Errorf("render table: %w", err)
		}
	}
	return nil
}

// ShownRows returns the rows with a point value blanked where it and the
// values left of it repeat the row above's, so each point reads as a block
// in Markdown and HTML, as merged cells do on a terminal.
func (t *Table) ShownRows() [][]string {
	out := make([][]string, len(t.Rows))
	for i, r := range t.Rows {
		out[i] = slices.Clone(r)
		for j := 0; i > 0 && j < t.Point && slices.Equal(r[:j+1], t.Rows[i-1][:j+1]); j++ {
			out[i][j] = ""
		}
	}
	return out
}

// WriteMarkdown renders t as a GitHub-flavoured Markdown table, then its
// notes.
func (t *Table) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintf(&b, "| %s |\n|", strings.Join(t.Header, " | "))
	for i := range t.Header {
		if t.Number[i] {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.ShownRows() {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = esc(c)
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	b.WriteString("\n")
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "%s\n\n", n)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	return nil
}
