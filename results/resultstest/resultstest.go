// Package resultstest builds deterministic run records for tests of code
// that reads results: reports, comparisons, exports. The figures are
// synthetic but consistent: each repetition's percentiles come from its own
// encoded HDR histogram, as Summarize would write them.
package resultstest

import (
	"fmt"
	"math"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/results"
)

// Options shape a run.
type Options struct {
	Datapaths  []string  // default none, sidecar, nodeproxy, ebpf
	Placements []string  // default same-node, cross-node
	Rates      []float64 // default 1000
	// Repetitions per case; default 3.
	Repetitions int
	// Requests per repetition, the histogram's sample count; default 2000.
	Requests int
	// Noise scales repetition i's latencies by Noise[i % len(Noise)]:
	// run-to-run noise. Default a few percent, the same for every case.
	Noise []float64
	// Dir, when set, is the run directory that every repetition's
	// samples file is written into: the histogram's latencies in a fixed
	// shuffled order, a request every 1/rate s, with a burst of errors.
	Dir string
}

// Datapath costs relative to none, by datapath: latency factor, proxies on
// the busiest node, datapath memory per proxy (MiB), CPU s per 1k requests
// per proxy, hops per request.
var profiles = map[string]struct {
	factor, memMiB, cpu, hops float64
	proxies                   int
}{
	"none":      {factor: 1, hops: 4},
	"sidecar":   {factor: 2.6, proxies: 1, memMiB: 48, cpu: 0.012, hops: 14},
	"nodeproxy": {factor: 1.9, proxies: 1, memMiB: 64, cpu: 0.009, hops: 10},
	"ebpf":      {factor: 1.4, proxies: 1, memMiB: 40, cpu: 0.006, hops: 6},
}

// defaultNoise is Options.Noise's default.
var defaultNoise = []float64{1.00, 1.04, 0.97, 1.02, 0.99, 1.03, 0.98, 1.01}

// Run returns a run with one ok case per placement × rate × datapath.
func Run(tb testing.TB, o Options) *results.Run {
	tb.Helper()
	if o.Datapaths == nil {
		o.Datapaths = []string{"none", "sidecar", "nodeproxy", "ebpf"}
	}
	if o.Placements == nil {
		o.Placements = []string{"same-node", "cross-node"}
	}
	if o.Rates == nil {
		o.Rates = []float64{1000}
	}
	if o.Repetitions == 0 {
		o.Repetitions = 3
	}
	if o.Requests == 0 {
		o.Requests = 2000
	}
	if o.Noise == nil {
		o.Noise = defaultNoise
	}
	run := &results.Run{
		SchemaVersion: results.SchemaVersion,
		ID:            "r1a2b3",
		Scenario:      "quick",
		ScenarioHash:  "5f1c0ffee",
		Provider:      "netns",
		StartedAt:     time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		FinishedAt:    time.Date(2025, 6, 1, 12, 4, 30, 0, time.UTC),
		Environment: results.Environment{
			Kernel: "6.18.0", CPUModel: "Test CPU @ 2.00GHz", CPUs: 2, MemoryBytes: 24 << 30,
			GoVersion: "go1.26.0", MeshbenchVersion: "dev", GitCommit: "0123abc", Hostname: "ci",
		},
		Gate: map[string]string{"p99_overhead": "10%", "hops": "0"},
	}
	for _, placement := range o.Placements {
		for _, rate := range o.Rates {
			for _, dp := range o.Datapaths {
				run.Cases = append(run.Cases, newCase(tb, dp, placement, rate, o))
			}
		}
	}
	return run
}

func newCase(tb testing.TB, dp, placement string, rate float64, o Options) results.Case {
	tb.Helper()
	prof, ok := profiles[dp]
	if !ok {
		tb.Fatalf("resultstest: no profile for datapath %q", dp)
	}
	c := results.Case{
		ID:        fmt.Sprintf("%s/%s/svc=1/rate=%g/conns=8/req=0/resp=1024", dp, placement, rate),
		Datapath:  dp,
		Placement: placement, NodeCount: 3, Services: 1, Pods: 2,
		Rate: rate, DurationS: 5, Connections: 8, ResponseBytes: 1024,
		Status: "ok",
	}
	if dp != "none" {
		c.Mode, c.Proxy = "l4", "on"
	}
	// Base latency: 60 µs same-node, 95 µs cross-node, growing with rate.
	medianUS := 60.0
	if placement != "same-node" {
		medianUS = 95
	}
	medianUS *= prof.factor * (1 + rate/20000)
	for i := range o.Repetitions {
		rep := repetition(tb, medianUS*o.Noise[i%len(o.Noise)], o.Requests, rate)
		rep.Index = i
		rep.Samples = results.SamplesPath(c.ID, i)
		if o.Dir != "" {
			writeSamples(tb, o.Dir, c.ID, i, medianUS*o.Noise[i%len(o.Noise)], o.Requests, rate)
		}
		c.Repetitions = append(c.Repetitions, rep)
		c.Requests += rep.Requests
	}
	c.LatencyUS, c.AchievedRPS, c.ErrorRate = results.Aggregate(c.Repetitions)
	results.JudgeRate(&c)
	for n := range 3 {
		node := results.NodeCost{Node: fmt.Sprintf("node%d", n+1), AppMemoryBytesMean: 12 << 20, AppCPUSeconds: 1.5}
		// The client's node (node1) carries the client side's proxy; the
		// server's node is node1 same-node, node2 otherwise.
		if n == 0 || (n == 1 && placement != "same-node") {
			node.Proxies = prof.proxies
			node.DatapathMemoryBytesMean = prof.memMiB * (1 << 20)
			node.DatapathMemoryBytesPeak = prof.memMiB * 1.1 * (1 << 20)
			node.DatapathCPUPer1kRequests = prof.cpu
			node.DatapathCPUSeconds = prof.cpu * float64(c.Requests) / 1000
		}
		c.NodeCosts = append(c.NodeCosts, node)
	}
	c.Path = path(dp, placement, prof.hops)
	return c
}

// writeSamples writes n samples of a repetition whose latencies are
// repetition's, in a fixed shuffled order, sent every 1/rate s; requests
// in the second tenth of the time fail every seventh.
func writeSamples(tb testing.TB, dir, caseID string, rep int, medianUS float64, n int, rate float64) {
	tb.Helper()
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	samples := make([]results.Sample, n)
	for i := range n {
		// 7919 is prime, so j visits every quantile once.
		j := (i * 7919) % n
		us := medianUS * math.Exp(0.45*math.Sqrt2*math.Erfinv(2*(float64(j)+0.5)/float64(n)-1))
		s := results.Sample{Seq: uint64(i), Intended: start + int64(float64(i)/rate*1e9), Latency: time.Duration(us * 1e3), Code: 200, BytesIn: 1024}
		s.Service = s.Latency
		if i >= n/10 && i < n/5 && i%7 == 0 {
			s.Code, s.BytesIn, s.Error = 0, 0, "connection reset by peer"
		}
		samples[i] = s
	}
	if _, err := results.WriteSamples(dir, caseID, rep, samples); err != nil {
		tb.Fatalf("resultstest: %v", err)
	}
}

// repetition returns a repetition whose latencies are log-normal around
// medianUS, from n evenly spaced quantiles (no randomness), as Summarize
// would write it for a load of rate requests/s.
func repetition(tb testing.TB, medianUS float64, n int, rate float64) results.Repetition {
	tb.Helper()
	h := hdrhistogram.New(int64(time.Microsecond), int64(60*time.Second), 3)
	const sigma = 0.45
	for i := range n {
		z := math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/float64(n)-1)
		us := medianUS * math.Exp(sigma*z)
		if err := h.RecordValue(int64(us * float64(time.Microsecond))); err != nil {
			tb.Fatalf("resultstest: record %v µs: %v", us, err)
		}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		tb.Fatalf("resultstest: encode histogram: %v", err)
	}
	window := float64(n) / rate
	return results.Repetition{
		LatencyUS:       results.HistogramLatency(h),
		AchievedRPS:     float64(n) / window,
		Requests:        uint64(n),
		PacerLatenessUS: &results.Lateness{P50: 12, P99: 85},
		Histogram:       string(enc),
	}
}

// path returns a packet path with hops traversals, and a trace of one
// request that crosses the namespaces the datapath's traffic crosses.
func path(dp, placement string, hops float64) *results.Path {
	server := "node node1"
	if placement != "same-node" {
		server = "node node2"
	}
	line := func(where, dev, event string, n int) string {
		return fmt.Sprintf("%-22s %-8s %-12s %dB", where, dev, event, n)
	}
	trace := []string{line("pod client-0", "-", "socket_send", 90)}
	if dp == "sidecar" {
		trace = append(trace, line("pod client-0", "-", "socket_recv", 90), line("pod client-0", "-", "socket_send", 140))
	}
	trace = append(trace,
		line("pod client-0", "eth0", "transmit", 140),
		line("node node1", "veth1", "receive", 140),
		line("node node1", "-", "route_lookup", 0))
	if server != "node node1" {
		trace = append(trace,
			line("node node1", "eth0", "transmit", 140),
			line("fabric", "br0", "receive", 140),
			line(server, "eth0", "receive", 140))
	}
	trace = append(trace,
		line(server, "veth2", "transmit", 140),
		line("pod svc-000-0", "eth0", "receive", 140),
		line("pod svc-000-0", "-", "socket_recv", 90))
	p := &results.Path{
		Requests:        100,
		HopsPerRequest:  hops,
		Transmits:       hops / 2,
		Receives:        hops / 2,
		SocketCrossings: 4,
		RouteLookups:    2,
		Trace:           trace,
	}
	switch dp {
	case "sidecar", "nodeproxy":
		p.NetfilterHits = 4
	case "ebpf":
		p.Redirects = 2
	}
	return p
}
