package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results"
)

// titledTable is one of a report's tables with its heading; id anchors it
// in report.html.
type titledTable struct {
	id, title string
	table     *results.Table
}

// tables lists the tables every report shows, in order: latency (unless
// every case is a stream), stream throughput (when a case is a stream),
// cost and packet path (when measured), coverage (with unmeshed sources),
// overhead vs none and noise (when a case finished ok), and the claims
// (when a case ran sidecar, nodeproxy or ebpf). One table model feeds the
// terminal, Markdown and HTML.
func (v *view) tables() []titledTable {
	var out []titledTable
	// A run of streams or searches alone has no latency table to show.
	if latency := results.LatencyTable(v.run.Cases); len(latency.Rows) > 0 || results.StreamTable(v.run.Cases) == nil && results.SearchTable(v.run.Cases) == nil {
		latency.Notes = append(latency.Notes, "Latencies are medians over repetitions, from each request's intended send time.")
		out = append(out, titledTable{"latency", "Latency", latency})
	}
	if t := results.StreamTable(v.run.Cases); t != nil {
		t.Notes = append(t.Notes, "Streams move bytes one way, client to server, on every connection at once for the duration, each ending with the server's count of the bytes it read; they have no requests, so no percentiles. GBIT/S is all streams' bytes over the wall time, GBIT/S PER STREAM each stream's bytes over its own transfer time (median, with the smallest and largest), medians over repetitions. DP CPU/GIB is the busiest node's datapath CPU time per GiB moved, DP MEM/NODE its mean datapath memory.")
		t.Notes = append(t.Notes, writeWaitNotes(v.run.Cases)...)
		out = append(out, titledTable{"stream", "Stream throughput", t})
	}
	if t := results.SearchTable(v.run.Cases); t != nil {
		b := searchBounds(v.run.Cases)
		t.Notes = append(t.Notes, "Each search steps its rate up, then bisects, every step for the duration, and keeps the highest rate that met all three bounds: "+b+". P50/P99 and DP CPU/1K REQ THERE are the repetitions measured at that rate afterwards (busiest node's CPU). LOAD AGENT CEILING is measured by none's search at the point, on achieved rate and errors alone: what the load agents, kernel and echo servers carry without a mesh, whatever the latency; the other datapaths' searches stop there, and one that reaches it is shown as ≥ (agent), limited by the generator, not credited with it.")
		t.Notes = append(t.Notes, ceilingNotes(v.run.Cases)...)
		out = append(out, titledTable{"search", "Highest sustainable rate", t})
		steps := results.SearchStepsTable(v.run.Cases)
		steps.Notes = []string{"The curve of each search, by rate: achieved share of the rate (over the measured time), latency from intended send time, errors, and whether the step met the bounds."}
		out = append(out, titledTable{"search-steps", "Rate search steps", steps})
	}
	if t := results.CostTable(v.run.Cases); t != nil {
		t.Notes = []string{"Per-node figures are the busiest node's: PROXIES/NODE counts its proxies, DP MEM/NODE is the datapath's mean memory there (PSS, and the eBPF datapath's maps and programs), DP CPU/1K REQ its CPU time per 1000 requests, DP CPU/GIB per GiB of payload moved (request and response bodies), DP USS/NODE its processes' private memory alone (USS: what stopping them would free, without their share of the binary), DP IDLE MEM/NODE its memory (as DP MEM/NODE) once installed and before any request. HOPS/REQ counts device transmits and receives of data per request."}
		out = append(out, titledTable{"cost", "Datapath cost and packet path", t})
	}
	if t := results.CoverageTable(v.run.Cases); t != nil {
		out = append(out, titledTable{"coverage", "Coverage: what the datapath saw of each traffic source", t})
	}
	if t := results.EnrolmentTable(v.run.Cases); t != nil {
		out = append(out, titledTable{"enrolment", "Enrolment: the datapath installed into the running cluster under load", t})
	}
	if t := overheadTable(v); len(t.Rows) > 0 {
		out = append(out, titledTable{"overhead", "Overhead vs none and noise over repetitions", t})
	}
	if t := results.ClaimsTable(v.run.Cases); t != nil {
		out = append(out, titledTable{"claims", "Claims: node-level datapaths against a sidecar mesh, judged on this run", t})
	}
	return out
}

// overheadTable details, for every successful case, its overhead vs none
// with confidence intervals and the repetitions' noise.
func overheadTable(v *view) *results.Table {
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
	cols := []results.Column{
		{Header: "DATAPATH", Cell: results.DatapathLabel},
		{Header: "REPS", Number: true, Cell: func(c *results.Case) string { return strconv.Itoa(c.Stats.Repetitions) }},
		{Header: "P50 VS NONE", Number: true, Cell: overhead(func(o *results.Overhead) string { return withCI(o.Ratio.P50, times) })},
		{Header: "P99 VS NONE", Number: true, Cell: overhead(func(o *results.Overhead) string { return withCI(o.Ratio.P99, times) })},
		{Header: "P99 ADDED", Number: true, Cell: overhead(func(o *results.Overhead) string { return withCI(o.AddedUS.P99, added) })},
		{Header: "P99", Number: true, Cell: func(c *results.Case) string { return withCI(c.Stats.LatencyUS.P99, results.FormatMicros) }},
		{Header: "P99 CV", Number: true, Cell: func(c *results.Case) string { return percent(c.Stats.LatencyUS.P99.CV) }},
		{Header: "RPS CV", Number: true, Cell: func(c *results.Case) string { return percent(c.Stats.AchievedRPS.CV) }},
	}
	var cases []*results.Case
	for _, s := range v.sections {
		for _, c := range s.cases {
			if c.Stats != nil {
				cases = append(cases, c)
			}
		}
	}
	t := results.NewTable(cases, results.PointColumns(v.run.Cases), cols, 1)
	t.Notes = []string{ciNote(v)}
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

// searchBounds writes the search cases' bounds, "p99 ≤ 2× the lowest
// rate's, errors ≤ 0.1%, achieved ≥ 99%" (a run has one load.search).
func searchBounds(cases []results.Case) string {
	for _, c := range cases {
		if s := c.Search; s != nil {
			return fmt.Sprintf("p99 ≤ %g× the lowest rate's, errors ≤ %g%%, achieved ≥ %g%%", s.MaxP99Ratio, 100*s.MaxErrorRate, 100*s.MinAchievedFraction)
		}
	}
	return ""
}

// ceilingNotes say, for every none search, why the load agent's ceiling
// it measured is where it is.
func ceilingNotes(cases []results.Case) []string {
	var out []string
	for _, c := range cases {
		if s := c.Search; s != nil && c.Datapath == results.NoneDatapath && s.LoadAgentCeilingRPS > 0 {
			out = append(out, fmt.Sprintf("Load agent ceiling at %s: %g req/s; %s.", pointTitle(&c), s.LoadAgentCeilingRPS, s.LoadAgentCeilingStopped))
		}
	}
	return out
}

// writeWaitNotes name the stream cases whose load agents had writes
// refused with ENOMEM, which they retried after 50 µs.
func writeWaitNotes(cases []results.Case) []string {
	var out []string
	for _, c := range cases {
		if c.Stream != nil && c.Stream.WriteWaits > 0 {
			out = append(out, fmt.Sprintf("%s: %d writes refused with ENOMEM (the eBPF sockmap redirect while the proxy's receive memory is full), each retried after 50 µs, where a plain socket's write would have blocked.", c.ID, c.Stream.WriteWaits))
		}
	}
	return out
}
