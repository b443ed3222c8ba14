package compare

import (
	"strconv"

	"github.com/meshbench/meshbench/results"
)

// Kind is how a figure is measured, which decides how it is compared.
type Kind int

const (
	// Sampled figures have one value per repetition and are tested for
	// significance.
	Sampled Kind = iota
	// Exact figures are deterministic: any difference is real.
	Exact
	// Single figures are measured once per case: no test applies, and
	// changes within the metric's noise floor count as no change.
	Single
)

// metric is one figure compared per case.
type metric struct {
	name string
	kind Kind
	// higherBetter is true for figures that should grow (achieved rate).
	higherBetter bool
	// noise is a Single figure's noise floor, as a fraction.
	noise float64
	// values returns the case's values in the metric's unit, one per
	// repetition for Sampled figures, or false when the case lacks it.
	values func(run *results.Run, c *results.Case) ([]float64, bool)
	// format writes a value in the metric's unit.
	format func(float64) string
	// what says in a few words what the figure is, for `gate --help`.
	what string
	// unit names the unit of values, for JSON readers.
	unit string
}

// metrics are the compared figures, in report order.
var metrics = []*metric{
	latencyMetric("p50", results.P50),
	latencyMetric("p90", results.P90),
	latencyMetric("p99", results.P99),
	latencyMetric("p999", results.P999),
	overheadMetric("p50_overhead", results.P50),
	overheadMetric("p90_overhead", results.P90),
	overheadMetric("p99_overhead", results.P99),
	overheadMetric("p999_overhead", results.P999),
	{
		name: "rps", kind: Sampled, higherBetter: true,
		values: requestsOnly(perRepetition(func(r *results.Repetition) float64 { return r.AchievedRPS })),
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		what:   "achieved requests/s", unit: "requests/s",
	},
	{
		name: "errors", kind: Sampled,
		values: perRepetition(func(r *results.Repetition) float64 { return r.ErrorRate * 100 }),
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" },
		what:   "error rate, in % of requests", unit: "%",
	},
	{
		name: "hops", kind: Exact,
		values: func(_ *results.Run, c *results.Case) ([]float64, bool) {
			if c.Path == nil {
				return nil, false
			}
			return []float64{c.Path.HopsPerRequest}, true
		},
		format: results.FormatNumber,
		what:   "kernel stack traversals per request", unit: "hops/request",
	},
	{
		// Counts, not timings: any change is real.
		name: "coverage", kind: Exact, higherBetter: true,
		values: func(_ *results.Run, c *results.Case) ([]float64, bool) {
			low := c.MinCoverage()
			if low == nil {
				return nil, false
			}
			return []float64{*low * 100}, true
		},
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "%" },
		what:   "share of requests through the datapath, least-covered traffic source, %", unit: "%",
	},
	{
		name: "proxies", kind: Exact,
		values: busiestNode(func(n results.NodeCost) float64 { return float64(n.Proxies) }),
		format: results.FormatNumber,
		what:   "proxies on the busiest node", unit: "proxies",
	},
	{
		name: "memory", kind: Single, noise: 0.05,
		values: busiestNode(func(n results.NodeCost) float64 { return n.DatapathMemoryBytesMean }),
		format: results.FormatMemory,
		what:   "datapath memory on the busiest node, bytes", unit: "bytes",
	},
	{
		name: "cpu", kind: Single, noise: 0.10,
		values: requestsOnly(busiestNode(func(n results.NodeCost) float64 { return n.DatapathCPUPer1kRequests })),
		format: results.FormatSeconds,
		what:   "datapath CPU seconds per 1k requests on the busiest node", unit: "s/1k requests",
	},
	{
		name: "gbps", kind: Sampled, higherBetter: true,
		values: func(_ *results.Run, c *results.Case) ([]float64, bool) {
			if c.Stream == nil {
				return nil, false
			}
			var xs []float64
			for _, r := range c.Repetitions {
				if r.Stream != nil {
					xs = append(xs, r.Stream.Gbps)
				}
			}
			return xs, len(xs) > 0
		},
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + " Gbit/s" },
		what:   "a stream's throughput, all streams together", unit: "Gbit/s",
	},
	{
		name: "cpu_gib", kind: Single, noise: 0.10,
		values: func(run *results.Run, c *results.Case) ([]float64, bool) {
			if c.Stream == nil {
				return nil, false
			}
			return busiestNode(func(n results.NodeCost) float64 { return n.DatapathCPUPerGiB })(run, c)
		},
		format: results.FormatSeconds,
		what:   "a stream's datapath CPU seconds per GiB on the busiest node", unit: "s/GiB",
	},
	{
		name: "highest_rps", kind: Single, higherBetter: true, noise: 0.10,
		values: func(_ *results.Run, c *results.Case) ([]float64, bool) {
			if c.Search == nil || c.Search.HighestRPS == 0 {
				return nil, false
			}
			return []float64{c.Search.HighestRPS}, true
		},
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
		what:   "a rate search's highest sustainable rate, requests/s", unit: "requests/s",
	},
}

// requestsOnly leaves out stream cases, which have no requests: values
// per request or per repetition's requests are not theirs.
func requestsOnly(f func(*results.Run, *results.Case) ([]float64, bool)) func(*results.Run, *results.Case) ([]float64, bool) {
	return func(run *results.Run, c *results.Case) ([]float64, bool) {
		if results.IsStream(*c) {
			return nil, false
		}
		return f(run, c)
	}
}

func metricByName(name string) *metric {
	for _, m := range metrics {
		if m.name == name {
			return m
		}
	}
	return nil
}

func latencyMetric(name string, f results.LatencyField) *metric {
	return &metric{
		name:   name,
		kind:   Sampled,
		values: requestsOnly(perRepetition(func(r *results.Repetition) float64 { return f(r.LatencyUS) })),
		format: results.FormatMicros,
		what:   "latency percentile, µs", unit: "µs",
	}
}

func overheadMetric(name string, f results.LatencyField) *metric {
	return &metric{
		name: name,
		kind: Sampled,
		values: func(run *results.Run, c *results.Case) ([]float64, bool) {
			if c.Floor() {
				return nil, false
			}
			none := run.NoneFor(c)
			if none == nil {
				return nil, false
			}
			xs := results.OverheadRatios(c, none, f)
			return xs, len(xs) > 0
		},
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) + "×" },
		what:   "latency over none's at the same point, ×", unit: "×none",
	}
}

func perRepetition(f func(*results.Repetition) float64) func(*results.Run, *results.Case) ([]float64, bool) {
	return func(_ *results.Run, c *results.Case) ([]float64, bool) {
		if len(c.Repetitions) == 0 {
			return nil, false
		}
		xs := make([]float64, len(c.Repetitions))
		for i := range c.Repetitions {
			xs[i] = f(&c.Repetitions[i])
		}
		return xs, true
	}
}

func busiestNode(f func(results.NodeCost) float64) func(*results.Run, *results.Case) ([]float64, bool) {
	return func(_ *results.Run, c *results.Case) ([]float64, bool) {
		if len(c.NodeCosts) == 0 {
			return nil, false
		}
		m := f(c.NodeCosts[0])
		for _, n := range c.NodeCosts[1:] {
			m = max(m, f(n))
		}
		return []float64{m}, true
	}
}
