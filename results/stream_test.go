package results

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSummarizeStream(t *testing.T) {
	t0 := time.Unix(100, 0).UnixNano()
	samples := []Sample{
		{Seq: 0, Intended: t0, Latency: time.Second, Code: 200, Bytes: 1e9},
		{Seq: 1, Intended: t0 + int64(time.Second)/2, Latency: time.Second, Code: 200, Bytes: 5e8},
		{Seq: 2, Intended: t0, Latency: time.Second, Error: "read the server's byte count: EOF", Bytes: 7},
	}
	rep, err := SummarizeStream(samples)
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Stream
	// 1.5e9 bytes over 1.5 s of wall time; the failed stream's bytes were
	// not acknowledged and do not count.
	want := Stream{Connections: 3, Failed: 1, Bytes: 15e8, Seconds: 1.5, Gbps: 8, PerConnectionGbps: Spread{Min: 4, Median: 6, Max: 8}}
	if st == nil || *st != want {
		t.Fatalf("Stream = %+v, want %+v", st, want)
	}
	if rep.Errors != 1 || math.Abs(rep.ErrorRate-1.0/3) > 1e-9 || rep.ErrorKinds[samples[2].Error] != 1 {
		t.Errorf("errors %d, rate %g, kinds %v; want the failed stream", rep.Errors, rep.ErrorRate, rep.ErrorKinds)
	}
	if rep.LatencyUS != (Latency{}) || rep.Histogram != "" || rep.Requests != 0 {
		t.Errorf("repetition %+v has request figures, want none", rep)
	}
	if _, err := SummarizeStream(samples[2:]); err == nil {
		t.Error("SummarizeStream of failed streams alone: want an error")
	}
}

func TestStreamTable(t *testing.T) {
	st := &Stream{Connections: 2, Bytes: 1 << 30, Seconds: 1, Gbps: 8.59, PerConnectionGbps: Spread{Min: 4.1, Median: 4.3, Max: 4.5}}
	cases := []Case{
		{ID: "none/x", Datapath: "none", Protocol: "http1", Placement: "same-node", Rate: 1000, Status: "ok"},
		{ID: "none/s", Datapath: "none", Protocol: "stream", Placement: "same-node", Status: "ok", Stream: st,
			NodeCosts: []NodeCost{{Node: "n0", DatapathCPUPerGiB: 0.25}}},
		{ID: "sidecar/s", Datapath: "sidecar", Protocol: "stream", Placement: "same-node", Status: "failed", Error: "boom"},
	}
	tbl := StreamTable(cases)
	if tbl == nil || len(tbl.Rows) != 2 {
		t.Fatalf("StreamTable = %+v, want the two stream cases", tbl)
	}
	if got, want := tbl.Rows[0], []string{"none", "ok", "2", "8.59", "4.30 (4.10–4.50)", "250ms", "0.00 B", "0.00%"}; !slices.Equal(got, want) {
		t.Errorf("stream row = %q, want %q", got, want)
	}
	if notes := strings.Join(tbl.Notes, "\n"); !strings.Contains(notes, "sidecar/s: boom") || strings.Contains(notes, "req/s") {
		t.Errorf("notes %q: want the failure, and no target rate", notes)
	}
	if lt := LatencyTable(cases); len(lt.Rows) != 1 {
		t.Errorf("LatencyTable has %d rows, want the http1 case alone", len(lt.Rows))
	}
	if StreamTable(cases[:1]) != nil {
		t.Error("StreamTable without stream cases: want nil")
	}
}

// Payload counts the bodies of successful requests only: each response as
// received, each request as sent.
func TestPayloadBytes(t *testing.T) {
	samples := []Sample{
		{Code: 200, BytesIn: 1024},
		{Code: 200, BytesIn: 1000}, // a short body counts as received
		{Code: 503, BytesIn: 19},
		{Error: "timeout"},
	}
	if got, want := PayloadBytes(samples, 64), uint64(1024+64+1000+64); got != want {
		t.Errorf("PayloadBytes = %d, want %d", got, want)
	}
}

// Finalize gives every search case the load agent's ceiling, none's
// highest rate at its point, and marks a datapath that reached it.
func TestFinalizeSearchCeiling(t *testing.T) {
	search := func(highest float64) *Search {
		return &Search{MaxP99Ratio: 2, HighestRPS: highest, Steps: []SearchStep{{RateRPS: highest, Passed: true, P50US: 100, P99US: 200}}}
	}
	run := &Run{Cases: []Case{
		{ID: "none/p", Datapath: "none", Placement: "same-node", Status: "ok", Search: search(2000)},
		{ID: "sidecar/p", Datapath: "sidecar", Placement: "same-node", Status: "ok", Search: search(3000)},
		{ID: "ebpf/p", Datapath: "ebpf", Placement: "same-node", Status: "ok", Search: search(8000)},
	}}
	run.Cases[0].Search.LoadAgentCeilingRPS = 8000 // measured by none's search
	Finalize(run)
	for i, want := range []bool{false, false, true} {
		s := run.Cases[i].Search
		if s.LoadAgentCeilingRPS != 8000 || s.AtCeiling != want {
			t.Errorf("%s: ceiling %g, at ceiling %t; want 8000, %t", run.Cases[i].ID, s.LoadAgentCeilingRPS, s.AtCeiling, want)
		}
	}
	tbl := SearchTable(run.Cases)
	if got := []string{tbl.Rows[0][1], tbl.Rows[1][1], tbl.Rows[2][1]}; !slices.Equal(got, []string{"2000", "3000", "≥ 8000 (agent)"}) {
		t.Errorf("HIGHEST RPS = %q, want the ebpf case marked as the load agent's ceiling", got)
	}
	if steps := SearchStepsTable(run.Cases); len(steps.Rows) != 3 || LatencyTable(run.Cases).Rows != nil {
		t.Errorf("steps table %d rows, latency table %v; want a step per case and no latency rows", len(steps.Rows), LatencyTable(run.Cases).Rows)
	}
}
