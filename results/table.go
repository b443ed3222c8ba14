package results

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// point is a matrix point: the cases that share one differ only in datapath,
// so the table puts them on adjacent rows.
type point struct {
	placement              string
	services               int
	rate                   float64
	connections, req, resp int
}

func pointOf(c *Case) point {
	return point{c.Placement, c.Services, c.Rate, c.Connections, c.RequestBytes, c.ResponseBytes}
}

// column is one table column: its header, how a case fills its cell, and
// how the cell is laid out.
type column struct {
	header string
	cell   func(c *Case) string
	// point columns name the matrix point; repeated values are merged so
	// that each point reads as one block.
	point bool
	// number columns are right-aligned.
	number bool
}

// WriteTable renders run's cases as a terminal table, one row per case,
// the datapaths of one matrix point on adjacent rows. Columns for matrix
// dimensions that do not vary, and for per-node costs and hops per request
// when no case measured them, are left out. Per-node costs are those of the
// busiest node, the one a node must be sized for. Failed cases show their
// status, and their errors follow the table.
func WriteTable(w io.Writer, run *Run) error {
	cases := groupByPoint(run.Cases)
	cols := tableColumns(cases)
	var failures []string
	if slices.ContainsFunc(cases, func(c Case) bool { return failed(&c) }) {
		cols = append(cols, column{header: "STATUS", cell: func(c *Case) string {
			if !failed(c) {
				return c.Status
			}
			failures = append(failures, fmt.Sprintf("[%d] %s: %s", len(failures)+1, c.ID, c.Error))
			return fmt.Sprintf("%s [%d]", c.Status, len(failures))
		}})
	}

	headers := make([]string, len(cols))
	align := make([]tw.Align, len(cols))
	merge := tw.NewMapper[int, bool]()
	for i, col := range cols {
		headers[i] = col.header
		align[i] = tw.AlignLeft
		if col.number {
			align[i] = tw.AlignRight
		}
		if col.point {
			merge.Set(i, true)
		}
	}
	t := tablewriter.NewTable(w, tablewriter.WithConfig(tablewriter.Config{
		Header: tw.CellConfig{Formatting: tw.CellFormatting{AutoFormat: tw.Off}},
		Row: tw.CellConfig{
			Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone},
			Merging:    tw.CellMerging{Mode: tw.MergeHierarchical, ByColumnIndex: merge},
			Alignment:  tw.CellAlignment{PerColumn: align},
		},
	}))
	t.Header(headers)
	for i := range cases {
		row := make([]string, len(cols))
		for j, col := range cols {
			row[j] = col.cell(&cases[i])
		}
		if err := t.Append(row); err != nil {
			return fmt.Errorf("render results table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("render results table: %w", err)
	}
	for _, f := range failures {
		if _, err := fmt.Fprintln(w, f); err != nil {
			return fmt.Errorf("render results table: %w", err)
		}
	}
	return nil
}

// groupByPoint orders cases by matrix point, points in order of first
// appearance, and keeps the run's datapath order within a point.
func groupByPoint(in []Case) []Case {
	rank := map[point]int{}
	for i := range in {
		if _, ok := rank[pointOf(&in[i])]; !ok {
			rank[pointOf(&in[i])] = len(rank)
		}
	}
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b Case) int {
		return rank[pointOf(&a)] - rank[pointOf(&b)]
	})
	return out
}

func failed(c *Case) bool { return c.Status != "ok" }

// tableColumns picks the columns that say something about these cases.
func tableColumns(cases []Case) []column {
	varies := func(f func(c *Case) string) bool {
		return slices.ContainsFunc(cases, func(c Case) bool { return f(&c) != f(&cases[0]) })
	}
	has := func(f func(c *Case) bool) bool {
		return slices.ContainsFunc(cases, func(c Case) bool { return f(&c) })
	}
	// measured makes a right-aligned column of a measured figure, which a
	// failed case does not have.
	measured := func(header string, f func(c *Case) string) column {
		return column{header: header, number: true, cell: func(c *Case) string {
			if failed(c) {
				return "-"
			}
			return f(c)
		}}
	}

	cols := []column{{header: "PLACEMENT", point: true, cell: func(c *Case) string { return c.Placement }}}
	services := func(c *Case) string { return strconv.Itoa(c.Services) }
	if varies(services) {
		cols = append(cols, column{header: "SERVICES", point: true, number: true, cell: services})
	}
	cols = append(cols, column{header: "TARGET RPS", point: true, number: true, cell: func(c *Case) string {
		return strconv.FormatFloat(c.Rate, 'f', -1, 64)
	}})
	conns := func(c *Case) string { return strconv.Itoa(c.Connections) }
	if varies(conns) {
		cols = append(cols, column{header: "CONNS", point: true, number: true, cell: conns})
	}
	payload := func(c *Case) string { return formatBytes(c.RequestBytes) + "/" + formatBytes(c.ResponseBytes) }
	if varies(payload) {
		cols = append(cols, column{header: "REQ/RESP", point: true, number: true, cell: payload})
	}
	cols = append(cols,
		column{header: "DATAPATH", cell: datapathLabel},
		measured("ACHIEVED RPS", func(c *Case) string { return strconv.FormatFloat(c.AchievedRPS, 'f', 1, 64) }),
		measured("P50", func(c *Case) string { return formatMicros(c.LatencyUS.P50) }),
		measured("P90", func(c *Case) string { return formatMicros(c.LatencyUS.P90) }),
		measured("P99", func(c *Case) string { return formatMicros(c.LatencyUS.P99) }),
		measured("P99.9", func(c *Case) string { return formatMicros(c.LatencyUS.P999) }),
		measured("MAX", func(c *Case) string { return formatMicros(c.LatencyUS.Max) }),
		measured("ERRORS", func(c *Case) string { return strconv.FormatFloat(c.ErrorRate*100, 'f', 2, 64) + "%" }),
	)
	if has(func(c *Case) bool { return len(c.NodeCosts) > 0 }) {
		cols = append(cols,
			measured("PROXIES/NODE", busiestNode(func(n NodeCost) float64 { return float64(n.Proxies) }, formatNumber)),
			measured("DP MEM/NODE", busiestNode(func(n NodeCost) float64 { return n.DatapathMemoryBytesMean }, formatMemory)),
			measured("DP CPU/1K REQ", busiestNode(func(n NodeCost) float64 { return n.DatapathCPUPer1kRequests }, formatSeconds)),
		)
	}
	if has(func(c *Case) bool { return c.Path != nil }) {
		cols = append(cols, measured("HOPS/REQ", func(c *Case) string {
			if c.Path == nil {
				return "-"
			}
			return formatNumber(c.Path.HopsPerRequest)
		}))
	}
	return cols
}

// busiestNode formats the largest per-node figure of a case.
func busiestNode(f func(NodeCost) float64, format func(float64) string) func(c *Case) string {
	return func(c *Case) string {
		if len(c.NodeCosts) == 0 {
			return "-"
		}
		m := f(c.NodeCosts[0])
		for _, n := range c.NodeCosts[1:] {
			m = max(m, f(n))
		}
		return format(m)
	}
}

// datapathLabel names a case's datapath with its proxy mode and mTLS.
func datapathLabel(c *Case) string {
	var opts []string
	switch {
	case c.Proxy == "off":
		opts = append(opts, "proxy off")
	case c.Mode != "":
		opts = append(opts, c.Mode)
	}
	if c.MTLS {
		opts = append(opts, "mtls")
	}
	if len(opts) == 0 {
		return c.Datapath
	}
	return fmt.Sprintf("%s (%s)", c.Datapath, strings.Join(opts, ", "))
}

// formatMicros writes a latency in µs with 3 significant digits in the
// largest unit that keeps it at least 1: µs, ms or s.
func formatMicros(us float64) string {
	switch {
	case us >= 999.5e3: // rounds to at least 1000ms
		return sig3(us/1e6) + "s"
	case us >= 999.5:
		return sig3(us/1e3) + "ms"
	}
	return sig3(us) + "µs"
}

// formatSeconds writes a duration in seconds in human units.
func formatSeconds(s float64) string { return formatMicros(s * 1e6) }

// binaryUnits are the units of formatMemory and formatBytes.
var binaryUnits = []string{"B", "KiB", "MiB", "GiB"}

// formatMemory writes a byte count in binary units, 3 significant digits.
func formatMemory(b float64) string {
	u := 0
	for ; b >= 1023.5 && u < len(binaryUnits)-1; u++ {
		b /= 1024
	}
	return sig3(b) + " " + binaryUnits[u]
}

// formatBytes writes a payload size: exact when it is a whole number of
// units ("0B", "16KiB"), else to 3 significant digits.
func formatBytes(n int) string {
	v, u := float64(n), 0
	for ; v >= 1024 && u < len(binaryUnits)-1; u++ {
		v /= 1024
	}
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64) + binaryUnits[u]
	}
	return sig3(v) + binaryUnits[u]
}

// formatNumber writes a count or ratio with at most two decimals.
func formatNumber(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// sig3 writes v with 3 significant digits (more for v ≥ 1000).
func sig3(v float64) string {
	switch {
	case v < 9.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 99.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
