package results

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
)

// IsSearch reports whether c ran a rate search (load.search): its
// figures are measured at the rate its search found.
func IsSearch(c Case) bool { return c.Search != nil }

// searchCases are cases' search cases.
func searchCases(cases []Case) []Case {
	return slices.DeleteFunc(slices.Clone(cases), func(c Case) bool { return !IsSearch(c) })
}

// SearchTable is every search case's outcome: the highest rate that met
// the search's bounds (marked when it is the load agent's ceiling, which
// the datapath then sustains without it being its own), the load agent's
// ceiling, the latencies and the busiest node's datapath CPU per 1,000
// requests measured at that rate, and why the search stopped. Nil when no
// case searched.
func SearchTable(cases []Case) *Table {
	cases = searchCases(cases)
	if len(cases) == 0 {
		return nil
	}
	ordered := groupByPoint(cases)
	cols, failures := keyColumns(ordered)
	key := len(cols)
	rate := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	cols = append(cols,
		Column{Header: "HIGHEST RPS", Number: true, Cell: func(c *Case) string {
			s := c.Search
			switch {
			case s.HighestRPS == 0:
				return "-"
			case s.AtCeiling:
				return "≥ " + rate(s.HighestRPS) + " (agent)"
			}
			return rate(s.HighestRPS)
		}},
		Column{Header: "LOAD AGENT CEILING", Number: true, Cell: func(c *Case) string {
			if c.Search.LoadAgentCeilingRPS == 0 {
				return "-"
			}
			return rate(c.Search.LoadAgentCeilingRPS)
		}},
		Measured("P50/P99 THERE", func(c *Case) string { return FormatMicros(c.LatencyUS.P50) + "/" + FormatMicros(c.LatencyUS.P99) }),
		Measured("DP CPU/1K REQ THERE", BusiestNode(func(n NodeCost) float64 { return n.DatapathCPUPer1kRequests }, FormatSeconds)),
		Column{Header: "STEPS", Number: true, Cell: func(c *Case) string { return strconv.Itoa(len(c.Search.Steps)) }},
		Column{Header: "STOPPED", Cell: func(c *Case) string { return c.Search.Stopped }},
	)
	return keyedTable(ordered, cases, cols, key, failures)
}

// SearchStepsTable is the curve of every search: one row per step, in
// rate order, with what it achieved, its p50 and p99 and errors, and
// whether it met the bounds. Nil when no case searched.
func SearchStepsTable(cases []Case) *Table {
	cases = searchCases(cases)
	if len(cases) == 0 {
		return nil
	}
	point := PointColumns(cases)
	t := &Table{Point: len(point) + 1, Key: len(point) + 1}
	for _, col := range point {
		t.Header = append(t.Header, col.Header)
		t.Number = append(t.Number, col.Number)
	}
	t.Header = append(t.Header, "DATAPATH", "RATE", "ACHIEVED", "P50", "P99", "ERRORS", "MET THE BOUNDS")
	t.Number = append(t.Number, false, true, true, true, true, true, false)
	for _, c := range groupByPoint(cases) {
		var lead []string
		for _, col := range point {
			lead = append(lead, col.Cell(c))
		}
		steps := slices.SortedStableFunc(slices.Values(c.Search.Steps), func(a, b SearchStep) int { return cmp.Compare(a.RateRPS, b.RateRPS) })
		for _, st := range steps {
			verdict := "yes"
			if !st.Passed {
				verdict = "no: " + st.Failure
			}
			t.Rows = append(t.Rows, append(slices.Clone(lead), DatapathLabel(c),
				strconv.FormatFloat(st.RateRPS, 'f', -1, 64),
				fmt.Sprintf("%.1f%%", 100*st.AchievedFraction),
				FormatMicros(st.P50US), FormatMicros(st.P99US),
				strconv.FormatFloat(st.ErrorRate*100, 'f', 2, 64)+"%",
				verdict))
		}
	}
	return t
}
