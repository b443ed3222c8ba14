package export

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/results"
)

// The smp format writes what Meshery, the reference implementation of
// Service Mesh Performance, stores for a performance test: MesheryResult
// objects whose runner_results are fortio results. Its shape follows the
// results the SMP repository publishes (github.com/service-mesh-performance/
// service-mesh-performance, docs/_data/test-results.json); the SMP protos'
// PerformanceTestResult has no place for a histogram, per-repetition
// results or a datapath's costs, and no mesh type for a datapath that is
// none of the meshes it lists.

// mesheryResult is one case. MesheryID, UserID, PerformanceProfile,
// TestID, CreatedAt and UpdatedAt are assigned by a Meshery server when it
// stores a result; the export leaves them out.
type mesheryResult struct {
	MesheryID          string         `json:"meshery_id,omitempty"`
	Name               string         `json:"name"`
	Mesh               *string        `json:"mesh"`
	PerformanceProfile string         `json:"performance_profile,omitempty"`
	TestID             *string        `json:"test_id,omitempty"`
	ServerMetrics      *serverMetrics `json:"server_metrics"`
	TestStartTime      *time.Time     `json:"test_start_time,omitempty"`
	CreatedAt          *time.Time     `json:"created_at,omitempty"`
	UserID             string         `json:"user_id,omitempty"`
	UpdatedAt          *time.Time     `json:"updated_at,omitempty"`
	RunnerResults      []fortioResult `json:"runner_results"`
}

// fortioResult is one repetition, as fortio's HTTPRunnerResults marshals
// it, with the two keys Meshery adds (kubernetes, load-generator).
type fortioResult struct {
	AbortOn           int              `json:"AbortOn"`
	AccessLoggerInfo  string           `json:"AccessLoggerInfo"`
	ActualDuration    int64            `json:"ActualDuration"` // ns
	ActualQPS         float64          `json:"ActualQPS"`
	DurationHistogram fortioHistogram  `json:"DurationHistogram"` // seconds
	Exactly           int64            `json:"Exactly"`
	HeaderSizes       *fortioHistogram `json:"HeaderSizes,omitempty"`
	Jitter            bool             `json:"Jitter"`
	Labels            string           `json:"Labels"`
	NumThreads        int              `json:"NumThreads"`
	RequestedDuration string           `json:"RequestedDuration"`
	RequestedQPS      string           `json:"RequestedQPS"`
	RetCodes          map[string]int64 `json:"RetCodes"`
	RunID             int64            `json:"RunID"`
	RunType           string           `json:"RunType"`
	Sizes             *fortioHistogram `json:"Sizes,omitempty"`
	SocketCount       int              `json:"SocketCount,omitempty"`
	StartTime         *time.Time       `json:"StartTime,omitempty"`
	URL               string           `json:"URL,omitempty"`
	Uniform           bool             `json:"Uniform"`
	Version           string           `json:"Version"`
	Kubernetes        *kubernetesInfo  `json:"kubernetes,omitempty"`
	LoadGenerator     string           `json:"load-generator"`
}

type fortioHistogram struct {
	Avg         float64            `json:"Avg"`
	Count       int64              `json:"Count"`
	Data        []fortioBucket     `json:"Data"`
	Max         float64            `json:"Max"`
	Min         float64            `json:"Min"`
	Percentiles []fortioPercentile `json:"Percentiles"`
	StdDev      float64            `json:"StdDev"`
	Sum         float64            `json:"Sum"`
}

type fortioBucket struct {
	Count   int64   `json:"Count"`
	End     float64 `json:"End"`
	Percent float64 `json:"Percent"` // cumulative
	Start   float64 `json:"Start"`
}

type fortioPercentile struct {
	Percentile float64 `json:"Percentile"`
	Value      float64 `json:"Value"`
}

type kubernetesInfo struct {
	Nodes         []map[string]string `json:"nodes"`
	ServerVersion string              `json:"server_version"`
}

// serverMetrics holds, under "meshbench", what a Meshery result has no
// field for, typed: the matrix point, hops per request, each node's
// datapath costs and the overhead over none.
type serverMetrics struct {
	Meshbench caseFigures `json:"meshbench"`
}

type caseFigures struct {
	Run           string      `json:"run"`
	Case          string      `json:"case"`
	Datapath      string      `json:"datapath"`
	Mode          string      `json:"mode,omitempty"`
	MTLS          bool        `json:"mtls"`
	Placement     string      `json:"placement"`
	Nodes         int         `json:"nodes"`
	Services      int         `json:"services"`
	Pods          int         `json:"pods"`
	RequestBytes  int         `json:"request_bytes"`
	ResponseBytes int         `json:"response_bytes"`
	ErrorRate     float64     `json:"error_rate"`
	HopsPerReq    *float64    `json:"hops_per_request,omitempty"`
	P50VsNone     *float64    `json:"p50_vs_none,omitempty"`
	P99VsNone     *float64    `json:"p99_vs_none,omitempty"`
	NodeCosts     []nodeCosts `json:"node_costs"`
}

type nodeCosts struct {
	Node                 string  `json:"node"`
	Proxies              int     `json:"proxies"`
	DatapathMemMB        float64 `json:"datapath_mem_mb"`
	DatapathCPUSeconds   float64 `json:"datapath_cpu_seconds"`
	DatapathCPUPer1kReqs float64 `json:"datapath_cpu_seconds_per_1k_requests"`
	AppMemMB             float64 `json:"app_mem_mb"`
	AppCPUSeconds        float64 `json:"app_cpu_seconds"`
}

// fortioPercentiles are the percentiles fortio reports by default, with
// 99.9 as Meshery asks for it.
var fortioPercentiles = []float64{50, 75, 90, 99, 99.9}

// histogramBuckets bounds the buckets of a DurationHistogram.
const histogramBuckets = 20

// WriteSMP writes the run's successful cases as a JSON array of Meshery
// results, one per case, with one fortio-shaped runner result per
// repetition: the latency histogram (seconds, from the repetition's HDR
// histogram: count, min, max, mean, standard deviation, up to 20 buckets
// and the percentiles 50, 75, 90, 99, 99.9), the measured duration and
// rate, and the return codes (successful responses under 200, "http status
// N" errors under N, other errors under -1, as fortio counts socket
// errors). mesh is the datapath configuration ("sidecar-l4-mtls"), null for
// none, as Meshery writes a test without a mesh. Start times come from the
// raw samples under dir, the run directory; without them ("" or missing
// files) they are left out rather than guessed.
func WriteSMP(w io.Writer, run *results.Run, dir string) error {
	out := []mesheryResult{}
	for i := range run.Cases {
		c := &run.Cases[i]
		if c.Status != "ok" || c.Stream != nil {
			// A stream has no latency histogram for SMP to carry.
			continue
		}
		r, err := mesheryResultOf(run, c, dir)
		if err != nil {
			return fmt.Errorf("export smp: case %s: %w", c.ID, err)
		}
		out = append(out, r)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("export smp: %w", err)
	}
	return nil
}

func mesheryResultOf(run *results.Run, c *results.Case, dir string) (mesheryResult, error) {
	r := mesheryResult{
		Name:          run.ID + "/" + c.ID,
		ServerMetrics: &serverMetrics{figures(run, c)},
		RunnerResults: []fortioResult{},
	}
	if !c.Floor() {
		id := configID(c)
		r.Mesh = &id
	}
	for i := range c.Repetitions {
		f, err := fortioOf(run, c, &c.Repetitions[i], dir)
		if err != nil {
			return mesheryResult{}, fmt.Errorf("repetition %d: %w", i, err)
		}
		if f.StartTime != nil && (r.TestStartTime == nil || f.StartTime.Before(*r.TestStartTime)) {
			r.TestStartTime = f.StartTime
		}
		r.RunnerResults = append(r.RunnerResults, f)
	}
	return r, nil
}

// loadGenerator names what sent c's requests: vegeta's attacker (load
// client vegeta, and http1 and h2c in files from before load_client
// existed), or meshbench's own load agent.
func loadGenerator(c *results.Case) string {
	p := c.ProtocolName()
	if c.LoadClient == "vegeta" || c.LoadClient == "" && (p == "http1" || p == "h2c") {
		return "vegeta"
	}
	return "meshbench"
}

func fortioOf(run *results.Run, c *results.Case, rep *results.Repetition, dir string) (fortioResult, error) {
	h, err := results.DecodeHistogram(rep.Histogram)
	if err != nil {
		return fortioResult{}, err
	}
	f := fortioResult{
		DurationHistogram: durationHistogram(h),
		Labels:            "meshbench " + c.ID,
		NumThreads:        c.Connections,
		RequestedDuration: time.Duration(c.DurationS * float64(time.Second)).String(),
		RequestedQPS:      strconv.FormatFloat(c.Rate, 'f', -1, 64),
		RetCodes:          retCodes(rep),
		RunID:             int64(rep.Index),
		RunType:           "HTTP",
		Version:           "meshbench " + run.Environment.MeshbenchVersion,
		LoadGenerator:     loadGenerator(c),
	}
	// AchievedRPS is successes over the measured wall time, so the wall
	// time is successes over AchievedRPS; fortio's QPS counts every call.
	if ok := rep.Requests - min(rep.Errors, rep.Requests); rep.AchievedRPS > 0 && ok > 0 {
		wall := float64(ok) / rep.AchievedRPS
		f.ActualDuration = int64(wall * 1e9)
		f.ActualQPS = float64(rep.Requests) / wall
	}
	if dir != "" && rep.Samples != "" {
		if s, err := results.ReadSamples(filepath.Join(dir, rep.Samples)); err == nil && len(s) > 0 {
			first := slices.MinFunc(s, func(a, b results.Sample) int { return cmp.Compare(a.Intended, b.Intended) })
			t := time.Unix(0, first.Intended).UTC()
			f.StartTime = &t
		}
	}
	return f, nil
}

// durationHistogram converts an HDR histogram of latencies in ns into
// fortio's, in seconds.
func durationHistogram(h *hdrhistogram.Histogram) fortioHistogram {
	sec := func(ns int64) float64 { return float64(ns) / 1e9 }
	n := h.TotalCount()
	out := fortioHistogram{Count: n, Data: []fortioBucket{}}
	if n == 0 {
		return out
	}
	out.Min, out.Max = sec(h.Min()), sec(h.Max())
	out.Avg, out.StdDev = h.Mean()/1e9, h.StdDev()/1e9
	out.Sum = out.Avg * float64(n)
	for _, p := range fortioPercentiles {
		out.Percentiles = append(out.Percentiles, fortioPercentile{p, sec(h.ValueAtQuantile(p))})
	}
	// Log-spaced bucket edges from min to max; each HDR bar falls in the
	// bucket holding its lower end.
	lo, hi := float64(max(h.Min(), 1)), float64(max(h.Max(), 1))
	edges := make([]float64, histogramBuckets+1)
	for i := range edges {
		edges[i] = lo * math.Pow(hi/lo, float64(i)/histogramBuckets)
	}
	counts := make([]int64, histogramBuckets)
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		i := sortSearch(edges[1:histogramBuckets], float64(bar.From))
		counts[i] += bar.Count
	}
	var cum int64
	for i, cnt := range counts {
		if cnt == 0 {
			continue
		}
		cum += cnt
		out.Data = append(out.Data, fortioBucket{
			Count: cnt, Start: edges[i] / 1e9, End: edges[i+1] / 1e9,
			Percent: 100 * float64(cum) / float64(n),
		})
	}
	out.Data[0].Start, out.Data[len(out.Data)-1].End = out.Min, out.Max
	return out
}

// sortSearch returns how many of the ascending edges are at most v: the
// index of v's bucket.
func sortSearch(edges []float64, v float64) int {
	i, _ := slices.BinarySearchFunc(edges, v, func(e, v float64) int {
		if e <= v {
			return -1
		}
		return 1
	})
	return i
}

// retCodes counts a repetition's responses by return code: successes
// under 200, "http status N" errors under N, other errors under -1.
func retCodes(rep *results.Repetition) map[string]int64 {
	codes := map[string]int64{}
	if ok := int64(rep.Requests) - int64(rep.Errors); ok > 0 {
		codes["200"] = ok
	}
	var counted uint64
	for kind, n := range rep.ErrorKinds {
		code := "-1"
		if s, found := strings.CutPrefix(kind, "http status "); found {
			if _, err := strconv.Atoi(s); err == nil {
				code = s
			}
		}
		codes[code] += int64(n)
		counted += n
	}
	if rep.Errors > counted {
		codes["-1"] += int64(rep.Errors - counted)
	}
	return codes
}

func figures(run *results.Run, c *results.Case) caseFigures {
	f := caseFigures{
		Run: run.ID, Case: c.ID, Datapath: c.Datapath, Mode: c.Mode, MTLS: c.MTLS, Placement: c.Placement,
		Nodes: c.NodeCount, Services: c.Services, Pods: c.Pods,
		RequestBytes: c.RequestBytes, ResponseBytes: c.ResponseBytes, ErrorRate: c.ErrorRate,
		NodeCosts: []nodeCosts{},
	}
	if c.Path != nil {
		f.HopsPerReq = &c.Path.HopsPerRequest
	}
	if none := run.NoneFor(c); none != nil && !c.Floor() {
		for _, x := range []struct {
			dst  **float64
			pick results.LatencyField
		}{{&f.P50VsNone, results.P50}, {&f.P99VsNone, results.P99}} {
			if xs := results.OverheadRatios(c, none, x.pick); len(xs) > 0 {
				m := results.EstimateOf(xs).Median
				*x.dst = &m
			}
		}
	}
	mb := func(b float64) float64 { return b / (1 << 20) }
	for _, n := range c.NodeCosts {
		f.NodeCosts = append(f.NodeCosts, nodeCosts{
			Node: n.Node, Proxies: n.Proxies,
			DatapathMemMB: mb(n.DatapathMemoryBytesMean), DatapathCPUSeconds: n.DatapathCPUSeconds,
			DatapathCPUPer1kReqs: n.DatapathCPUPer1kRequests,
			AppMemMB:             mb(n.AppMemoryBytesMean), AppCPUSeconds: n.AppCPUSeconds,
		})
	}
	return f
}

// configID names a case's datapath configuration: "sidecar-l7-mtls",
// "nodeproxy-l4-mtls-waypoint-server-node".
func configID(c *results.Case) string {
	id := c.Datapath
	if c.Mode != "" {
		id += "-" + c.Mode
	}
	if c.MTLS {
		id += "-mtls"
	}
	if c.Waypoint != "" {
		id += "-waypoint-" + c.Waypoint
	}
	if c.Encryption != "" {
		id += "-" + c.Encryption
		if c.EncryptionImplementation != "" {
			id += "-" + c.EncryptionImplementation
		}
	}
	return id
}
