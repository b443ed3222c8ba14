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
