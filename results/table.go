package results

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"golang.org/x/term"
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
// Header, Number and ShownRows), folded first where it must fit a width
// (Fold).
type Table struct {
	Header []string
	// Number marks the right-aligned columns.
	Number []bool
	// Point is how many leading columns name the matrix point; a value
	// repeated down them is shown once, so that each point reads as a
	// block.
	Point int
	// Key is how many leading columns name a row; every part of a folded
	// table repeats them. A Key below Point counts as Point.
	Key  int
	Rows [][]string
	// Failed marks the rows of cases that did not finish ok, for
	// renderers that can set them apart (report.html); nil when none.
	Failed []bool
	// Notes follow the table, one paragraph each.
	Notes []string
}

// NewTable fills a table with one row per case, in order: the point
// columns first, then cols. The point columns and the first key columns
// of cols are the table's key.
func NewTable(cases []*Case, point, cols []Column, key int) *Table {
	all := append(slices.Clone(point), cols...)
	t := &Table{Point: len(point), Key: len(point) + key}
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

// LatencyTable is the table every report starts with: one row per case,
// the datapaths of one matrix point on adjacent rows, points in order of
// first appearance, with the latencies, achieved rate, errors and the
// pacer's lateness. Columns for matrix dimensions that do not vary are
// left out, a fixed placement and rate then named in the first note. When
// a case did not finish ok, a STATUS column beside the datapath says so
// and numbers it, its rows are marked Failed, and the notes give each such
// case's error.
//
// Stream cases, which have no latencies, are left to StreamTable, and
// search cases, measured at rates of their own, to SearchTable.
func LatencyTable(cases []Case) *Table {
	cases = slices.DeleteFunc(slices.Clone(cases), ownTable)
	ordered := groupByPoint(cases)
	has := func(f func(c *Case) bool) bool { return slices.ContainsFunc(ordered, f) }
	cols, failures := keyColumns(ordered)
	key := len(cols)
	cols = append(cols,
		Measured("ACHIEVED RPS", achievedCell),
		Measured("P50", func(c *Case) string { return FormatMicros(c.LatencyUS.P50) }),
		Measured("P90", func(c *Case) string { return FormatMicros(c.LatencyUS.P90) }),
		Measured("P99", func(c *Case) string { return FormatMicros(c.LatencyUS.P99) }),
		Measured("P99.9", func(c *Case) string { return FormatMicros(c.LatencyUS.P999) }),
		Measured("MAX", func(c *Case) string { return FormatMicros(c.LatencyUS.Max) }),
		Measured("ERRORS", func(c *Case) string { return strconv.FormatFloat(c.ErrorRate*100, 'f', 2, 64) + "%" }),
	)
	if has(func(c *Case) bool { return !failed(c) && c.ConnectUS != nil }) {
		cols = append(cols, Measured("CONNECT P50/P99", func(c *Case) string {
			if c.ConnectUS == nil {
				return "-"
			}
			return FormatMicros(c.ConnectUS.P50) + "/" + FormatMicros(c.ConnectUS.P99)
		}))
	}
	if has(func(c *Case) bool { return !failed(c) && c.PacerLatenessUS != nil }) {
		cols = append(cols, Measured("SENT LATE P50/P99", func(c *Case) string {
			if c.PacerLatenessUS == nil {
				return "-"
			}
			return FormatMicros(c.PacerLatenessUS.P50) + "/" + FormatMicros(c.PacerLatenessUS.P99)
		}))
	}
	t := keyedTable(ordered, cases, cols, key, failures)
	if has(func(c *Case) bool { return !failed(c) && c.RateShortfall }) {
		t.Notes = append(t.Notes, fmt.Sprintf("SHORT: the case achieved less than %.0f%% of its target rate (over the measured time, first intended send to last actual send); its latencies are those of a lighter load than asked.", 100*(1-RateTolerance)))
	}
	return t
}

// keyColumns are the columns that name a row of a table of ordered: the
// datapath and, when a case did not finish ok, a STATUS column that says so
// and numbers it; failures are those cases' errors in row order.
func keyColumns(ordered []*Case) (cols []Column, failures []string) {
	cols = []Column{{Header: "DATAPATH", Cell: DatapathLabel}}
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
	return cols, failures
}

// keyedTable is the table of ordered (cases in point order) with cols,
// failed rows marked, and notes naming the fixed point and the failures.
func keyedTable(ordered []*Case, cases []Case, cols []Column, key int, failures []string) *Table {
	t := NewTable(ordered, PointColumns(cases), cols, key)
	if len(failures) > 0 {
		for _, c := range ordered {
			t.Failed = append(t.Failed, failed(c))
		}
	}
	if fixed := FixedPoint(cases); fixed != "" {
		t.Notes = append(t.Notes, fixed)
	}
	t.Notes = append(t.Notes, failures...)
	return t
}

// ownTable reports whether c's figures are in a table of their own.
func ownTable(c Case) bool { return IsStream(c) || IsSearch(c) }

// IsStream reports whether c is a stream case (protocol stream), which
// has throughput instead of latencies.
func IsStream(c Case) bool { return c.Protocol == "stream" }

// StreamTable is the stream cases' throughput: connections, total and
// per-connection Gbit/s, the busiest node's datapath CPU per GiB moved and
// memory, and errors, in LatencyTable's layout; nil when no case is a
// stream's.
func StreamTable(cases []Case) *Table {
	cases = slices.DeleteFunc(slices.Clone(cases), func(c Case) bool { return !IsStream(c) })
	if len(cases) == 0 {
		return nil
	}
	ordered := groupByPoint(cases)
	cols, failures := keyColumns(ordered)
	key := len(cols)
	stream := func(f func(st *Stream) string) func(c *Case) string {
		return func(c *Case) string {
			if c.Stream == nil {
				return "-"
			}
			return f(c.Stream)
		}
	}
	gbit := func(x float64) string { return sig3(x) }
	cols = append(cols,
		Measured("STREAMS", stream(func(st *Stream) string { return strconv.Itoa(st.Connections) })),
		Measured("GBIT/S", stream(func(st *Stream) string { return gbit(st.Gbps) })),
		Measured("GBIT/S PER STREAM (MIN–MAX)", stream(func(st *Stream) string {
			sp := st.PerConnectionGbps
			return fmt.Sprintf("%s (%s–%s)", gbit(sp.Median), gbit(sp.Min), gbit(sp.Max))
		})),
		Measured("DP CPU/GIB", BusiestNode(func(n NodeCost) float64 { return n.DatapathCPUPerGiB }, FormatSeconds)),
		Measured("DP MEM/NODE", BusiestNode(func(n NodeCost) float64 { return n.DatapathMemoryBytesMean }, FormatMemory)),
		Measured("ERRORS", func(c *Case) string { return strconv.FormatFloat(c.ErrorRate*100, 'f', 2, 64) + "%" }),
	)
	return keyedTable(ordered, cases, cols, key, failures)
}

// CostTable is what the datapath costs: proxies, datapath memory and CPU
// of the busiest node, the one a node must be sized for, and hops per
// request, for the cases that finished ok, in LatencyTable's order (stream
// and search cases' costs are in StreamTable and SearchTable).
// Columns that no case measured are left out; it is nil when no case
// measured any.
func CostTable(cases []Case) *Table {
	cases = slices.DeleteFunc(slices.Clone(cases), ownTable)
	var ok []*Case
	for _, c := range groupByPoint(cases) {
		if !failed(c) {
			ok = append(ok, c)
		}
	}
	has := func(f func(c *Case) bool) bool { return slices.ContainsFunc(ok, f) }
	var cols []Column
	if has(func(c *Case) bool { return len(c.NodeCosts) > 0 }) {
		cols = append(cols,
			Measured("PROXIES/NODE", BusiestNode(func(n NodeCost) float64 { return float64(n.Proxies) }, FormatNumber)),
			Measured("DP MEM/NODE", BusiestNode(func(n NodeCost) float64 { return n.DatapathMemoryBytesMean }, FormatMemory)),
			Measured("DP CPU/1K REQ", BusiestNode(func(n NodeCost) float64 { return n.DatapathCPUPer1kRequests }, FormatSeconds)),
		)
	}
	if has(func(c *Case) bool {
		return slices.ContainsFunc(c.NodeCosts, func(n NodeCost) bool { return n.DatapathCPUPerGiB > 0 })
	}) {
		cols = append(cols, Measured("DP CPU/GIB", BusiestNode(func(n NodeCost) float64 { return n.DatapathCPUPerGiB }, FormatSeconds)))
	}
	if has(func(c *Case) bool {
		return slices.ContainsFunc(c.NodeCosts, func(n NodeCost) bool { return n.DatapathUSSBytesMean > 0 })
	}) {
		cols = append(cols, Measured("DP USS/NODE", BusiestNode(func(n NodeCost) float64 { return n.DatapathUSSBytesMean }, FormatMemory)))
	}
	if has(func(c *Case) bool {
		return slices.ContainsFunc(c.NodeCosts, func(n NodeCost) bool { return n.DatapathIdleMemoryBytes > 0 })
	}) {
		cols = append(cols, Measured("DP IDLE MEM/NODE", BusiestNode(func(n NodeCost) float64 { return n.DatapathIdleMemoryBytes }, FormatMemory)))
	}
	if has(func(c *Case) bool { return c.Path != nil }) {
		cols = append(cols, Measured("HOPS/REQ", func(c *Case) string {
			if c.Path == nil {
				return "-"
			}
			return FormatNumber(c.Path.HopsPerRequest)
		}))
	}
	if len(cols) == 0 {
		return nil
	}
	cols = append([]Column{{Header: "DATAPATH", Cell: DatapathLabel}}, cols...)
	return NewTable(ok, PointColumns(cases), cols, 1)
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
// dimensions that do not vary among cases (FixedPoint names those of them
// that are not in every report's point headings).
func PointColumns(cases []Case) []Column {
	varies := func(f func(c *Case) string) bool {
		return slices.ContainsFunc(cases, func(c Case) bool { return f(&c) != f(&cases[0]) })
	}
	var cols []Column
	for _, d := range pointDimensions {
		if varies(d.cell) {
			cols = append(cols, Column{Header: d.header, Number: d.number, Cell: d.cell})
		}
	}
	return cols
}

// FixedPoint says which placement and target rate every case has when
// PointColumns leaves them out, "" when they vary or there are no cases:
// "every case: same-node, target 1000 req/s".
func FixedPoint(cases []Case) string {
	if len(cases) == 0 {
		return ""
	}
	var parts []string
	for _, d := range pointDimensions {
		if d.fixed != nil && !slices.ContainsFunc(cases, func(c Case) bool { return d.cell(&c) != d.cell(&cases[0]) }) {
			if part := d.fixed(d.cell(&cases[0])); part != "" {
				parts = append(parts, part)
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Every case: " + strings.Join(parts, ", ") + "."
}

// pointDimensions are the dimensions of a matrix point, in column order;
// those with fixed are named by FixedPoint when every case shares them.
var pointDimensions = []struct {
	header string
	number bool
	cell   func(c *Case) string
	fixed  func(cell string) string
}{
	{"PROTOCOL", false, (*Case).ProtocolName, nil},
	{"PLACEMENT", false, func(c *Case) string { return c.Placement }, func(s string) string { return s }},
	{"TARGET RPS", true, rateCell, func(s string) string {
		if s == "-" || s == "search" {
			return "" // streams have no rate, searches find their own
		}
		return "target " + s + " req/s"
	}},
	{servicesHeader, true, func(c *Case) string { return strconv.Itoa(c.Services) }, nil},
	{"CONNS", true, func(c *Case) string { return strconv.Itoa(c.Connections) }, nil},
	{"REQ/RESP", true, func(c *Case) string { return FormatBytes(c.RequestBytes) + "/" + FormatBytes(c.ResponseBytes) }, nil},
	{"PHASE", false, phaseCell, nil},
}

// phaseCell says whether a case is steady or an enrolment, and when its
// datapath was installed.
func phaseCell(c *Case) string {
	if c.Enrolling() {
		return "enrol at " + FormatSeconds(c.EnrolAfterS)
	}
	return "steady"
}

// rateCell is a case's target rate; a stream has none, a search case
// finds its own.
func rateCell(c *Case) string {
	switch {
	case IsStream(*c):
		return "-"
	case IsSearch(*c):
		return "search"
	}
	return strconv.FormatFloat(c.Rate, 'f', -1, 64)
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
	header := make([]string, len(t.Header))
	for i, h := range t.Header {
		header[i] = MarkdownText(h)
	}
	fmt.Fprintf(&b, "| %s |\n|", strings.Join(header, " | "))
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
			cells[i] = MarkdownText(c)
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	b.WriteString("\n")
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "%s\n\n", MarkdownText(n))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	return nil
}

// markdownEscapes turn text into Markdown that shows it as written: HTML's
// special characters become entities, Markdown's punctuation is
// backslash-escaped, and "|" cannot end a table cell.
var markdownEscapes = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "|", `\|`, "~", `\~`, "#", `\#`,
)

// MarkdownText escapes s, text from a run (scenario, datapath, error), for
// Markdown text or a table cell, so that it reads as written and no markup
// in it takes effect.
func MarkdownText(s string) string { return markdownEscapes.Replace(s) }

// DefaultTerminalWidth is TerminalWidth's when neither COLUMNS nor a
// terminal says: a log or a file then reads as a common terminal shows it.
const DefaultTerminalWidth = 120

// TerminalWidth is how many columns a table written to w may take:
// COLUMNS when it is set to a positive number, else the terminal's width
// when w is one, else DefaultTerminalWidth.
func TerminalWidth(w io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 0 {
			return n
		}
	}
	return DefaultTerminalWidth
}

// How wide a column is beyond its widest text, in characters.
const (
	// TerminalPadding is WriteTerminal's: a space each side and a border.
	TerminalPadding = 3
	// MarkdownPadding is a GitHub page's: 13 px of cell padding each
	// side, about three characters of its table text.
	MarkdownPadding = 3
)

// MarkdownWidth is how many characters of table text, padding included,
// fit a GitHub page without scrolling: its content column is about 980 px
// wide and its 16 px table text about 8.5 px a character.
const MarkdownWidth = 112

// Fold splits t into as few tables at most width characters wide as it
// can, each with t's key columns and, in order, a share of the others
// about as wide as the other parts'; a column wider than width on its own
// gets a part of its own. A column takes its
// widest text (header or cell) plus padding characters, a table one more
// for its left border. The notes follow the last part, wrapped to width.
// A width of 0 or less returns t whole.
func (t *Table) Fold(width, padding int) []*Table {
	if width <= 0 {
		return []*Table{t}
	}
	key := max(t.Key, t.Point)
	colWidth := func(i int) int {
		w := utf8.RuneCountInString(t.Header[i])
		for _, r := range t.Rows {
			w = max(w, utf8.RuneCountInString(r[i]))
		}
		return w + padding
	}
	base := 1
	for i := range key {
		base += colWidth(i)
	}
	// Pack columns in order into parts at most limit wide.
	pack := func(limit int) [][]int {
		var parts [][]int
		used := limit // forces a first part
		for i := key; i < len(t.Header); i++ {
			w := colWidth(i)
			if used+w > limit || len(parts) == 0 {
				parts = append(parts, nil)
				used = base
			}
			parts[len(parts)-1] = append(parts[len(parts)-1], i)
			used += w
		}
		return parts
	}
	parts := pack(width)
	// As few parts as at width, but as even as they can be: the
	// narrowest limit that needs no more parts.
	for limit := base; limit < width && len(parts) > 1; limit++ {
		if even := pack(limit); len(even) == len(parts) {
			parts = even
			break
		}
	}
	if len(parts) <= 1 {
		whole := *t
		whole.Notes = wrapNotes(t.Notes, width)
		return []*Table{&whole}
	}
	out := make([]*Table, len(parts))
	for p, cols := range parts {
		idx := make([]int, 0, key+len(cols))
		for i := range key {
			idx = append(idx, i)
		}
		cols = append(idx, cols...)
		part := &Table{Point: t.Point, Key: key, Failed: t.Failed}
		for _, i := range cols {
			part.Header = append(part.Header, t.Header[i])
			part.Number = append(part.Number, t.Number[i])
		}
		for _, r := range t.Rows {
			row := make([]string, len(cols))
			for j, i := range cols {
				row[j] = r[i]
			}
			part.Rows = append(part.Rows, row)
		}
		out[p] = part
	}
	out[len(out)-1].Notes = wrapNotes(t.Notes, width)
	return out
}

// wrapNotes wraps each note to lines of at most width characters, breaking
// at spaces; a longer word has a line of its own.
func wrapNotes(notes []string, width int) []string {
	out := make([]string, len(notes))
	for i, n := range notes {
		var b strings.Builder
		line := 0
		for j, word := range strings.Fields(n) {
			w := utf8.RuneCountInString(word)
			switch {
			case j == 0:
			case line+1+w > width:
				b.WriteByte('\n')
				line = 0
			default:
				b.WriteByte(' ')
				line++
			}
			b.WriteString(word)
			line += w
		}
		out[i] = b.String()
	}
	return out
}
