package compare

import (
	"slices"
	"testing"

	"github.com/meshbench/meshbench/results"
)

// streamRun is a run of one stream case and one search case, whose Gbit/s
// and highest rate are given.
func streamRun(gbps, highest float64) *results.Run {
	rep := func(g float64) results.Repetition {
		return results.Repetition{Stream: &results.Stream{Connections: 2, Bytes: 1 << 30, Seconds: 1, Gbps: g}}
	}
	return &results.Run{SchemaVersion: results.SchemaVersion, Cases: []results.Case{
		{ID: "none/x/svc=1/conns=2/proto=stream", Datapath: "none", Protocol: "stream", Status: "ok",
			Stream: &results.Stream{Gbps: gbps}, Repetitions: []results.Repetition{rep(gbps), rep(gbps * 1.01), rep(gbps * 0.99)},
			NodeCosts: []results.NodeCost{{Node: "n0", DatapathCPUPerGiB: 0.2}}},
		{ID: "none/x/svc=1/rate=search/conns=8/req=0/resp=1024", Datapath: "none", Status: "ok",
			Search: &results.Search{HighestRPS: highest}, LatencyUS: results.Latency{P50: 100, P99: 200},
			Repetitions: []results.Repetition{{LatencyUS: results.Latency{P50: 100, P99: 200}, AchievedRPS: highest}}},
	}}
}

// Stream and search cases gate on their own figures: no latency or target
// rate for a stream, no target rate for a search, and a drop in Gbit/s is
// worse.
func TestCompareStreamAndSearch(t *testing.T) {
	base := streamRun(10, 8000)
	g := Gate(mustCompare(t, base, base), mustLimits(t, DefaultLimits))
	if !g.OK() {
		t.Fatalf("a stream and search run against itself: violations %v", g.Violations)
	}
	r := mustCompare(t, base, streamRun(5, 4000))
	var streamMetrics []string
	verdict := map[string]Verdict{}
	for _, row := range r.Rows {
		verdict[row.Metric] = row.Verdict
		if row.Case == base.Cases[0].ID {
			streamMetrics = append(streamMetrics, row.Metric)
		}
	}
	for _, m := range []string{"p50", "p99", "rps", "cpu"} {
		if slices.Contains(streamMetrics, m) {
			t.Errorf("stream case compared on %s, which it has not: %q", m, streamMetrics)
		}
	}
	if verdict["gbps"] != Worse || verdict["highest_rps"] != Worse || !slices.Contains(streamMetrics, "cpu_gib") {
		t.Errorf("verdicts %v, metrics of the stream %q; want gbps and highest_rps worse, cpu_gib compared", verdict, streamMetrics)
	}
}
