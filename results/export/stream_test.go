package export

import (
	"bytes"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results"
)

// Stream and search cases export their own figures under names that say
// they have no rate, or search for it.
func TestBenchstatStreamAndSearch(t *testing.T) {
	run := &results.Run{ID: "r", Scenario: "s", Cases: []results.Case{
		{ID: "none/s", Datapath: "none", Protocol: "stream", Placement: "same-node", Status: "ok", Connections: 2,
			Stream: &results.Stream{Gbps: 9}, Repetitions: []results.Repetition{{Stream: &results.Stream{Connections: 2, Gbps: 9, PerConnectionGbps: results.Spread{Median: 4.5}}}},
			NodeCosts: []results.NodeCost{{Node: "n0", DatapathCPUPerGiB: 0.25}}},
		{ID: "none/q", Datapath: "none", Placement: "same-node", Status: "ok", Connections: 8,
			Search: &results.Search{HighestRPS: 4000}, Repetitions: []results.Repetition{{Requests: 100, AchievedRPS: 4000, LatencyUS: results.Latency{P50: 100, P99: 200}}}},
	}}
	var b bytes.Buffer
	if err := WriteBenchstat(&b, run); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"BenchmarkMesh/datapath=none/placement=same-node/svc=0/rate=-/conns=2/req=0/resp=0/proto=stream 2 9 Gbit/s 4.5 Gbit/s/stream 0 errors/stream 0.25 dp-cpu-sec/GiB",
		"BenchmarkMesh/datapath=none/placement=same-node/svc=0/rate=search/conns=8/req=0/resp=0 100 ",
		" 4000 highest-req/s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("benchstat export lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "proto=stream 2 0 p50-ns") {
		t.Errorf("the stream exported latencies:\n%s", out)
	}
}
