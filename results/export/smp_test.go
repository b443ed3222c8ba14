package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/results"
)

// smpSample holds the Meshery results the SMP repository publishes
// (testdata/README.md says where from).
const smpSample = "testdata/smp-test-results.json"

// TestSMPTypesDecodeSample decodes the published results into the export's
// types, refusing unknown fields: the types name every field Meshery
// writes, with its JSON type.
func TestSMPTypesDecodeSample(t *testing.T) {
	data, err := os.ReadFile(smpSample)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var got []mesheryResult
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s into the export's types: %v", smpSample, err)
	}
	if len(got) != 3 || len(got[0].RunnerResults) != 1 || got[0].RunnerResults[0].DurationHistogram.Count != 78 {
		t.Errorf("decoded %d results, first %+v", len(got), got[0])
	}
}

// runWithSamples writes testRun's raw samples, a few per repetition, each
// case starting a minute after the one before, and returns the run and
// its directory.
func runWithSamples(tb testing.TB) (*results.Run, string) {
	tb.Helper()
	run := testRun(tb)
	dir := tb.TempDir()
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range run.Cases {
		c := &run.Cases[i]
		for j := range c.Repetitions {
			t0 := start.Add(time.Duration(i)*time.Minute + time.Duration(j)*10*time.Second)
			var samples []results.Sample
			for k := range 5 {
				// Out of order, as agents' files merge them.
				samples = append(samples, results.Sample{Seq: uint64(k), Intended: t0.Add(time.Duration(4-k) * time.Millisecond).UnixNano(), Latency: time.Millisecond, Code: 200})
			}
			rel, err := results.WriteSamples(dir, c.ID, j, samples)
			if err != nil {
				tb.Fatal(err)
			}
			c.Repetitions[j].Samples = rel
		}
	}
	return run, dir
}

// jsonTypes records, for every path in v ("[].runner_results[].RetCodes.*"),
// the JSON types found there. Arrays' elements share a path, and so do
// the values of maps keyed by data (RetCodes).
func jsonTypes(v any, path string, out map[string][]string) {
	kind := "null"
	switch x := v.(type) {
	case map[string]any:
		kind = "object"
		for k, e := range x {
			name := k
			if strings.HasSuffix(path, ".RetCodes") {
				name = "*"
			}
			jsonTypes(e, path+"."+name, out)
		}
	case []any:
		kind = "array"
		for _, e := range x {
			jsonTypes(e, path+"[]", out)
		}
	case string:
		kind = "string"
	case float64:
		kind = "number"
	case bool:
		kind = "bool"
	}
	if !slices.Contains(out[path], kind) {
		out[path] = append(out[path], kind)
	}
}

// TestWriteSMPMatchesSample checks the export against the published
// results: every field it writes is one Meshery writes, with a JSON type
// Meshery writes there, and every field all published results have is
// written, except those a Meshery server assigns and those meshbench does
// not measure.
func TestWriteSMPMatchesSample(t *testing.T) {
	run, dir := runWithSamples(t)
	var b bytes.Buffer
	if err := WriteSMP(&b, run, dir); err != nil {
		t.Fatal(err)
	}
	sampleData, err := os.ReadFile(smpSample)
	if err != nil {
		t.Fatal(err)
	}
	var sample, ours any
	if err := json.Unmarshal(sampleData, &sample); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b.Bytes(), &ours); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	want, got := map[string][]string{}, map[string][]string{}
	jsonTypes(sample, "", want)
	jsonTypes(ours, "", got)
	for path, types := range got {
		if strings.HasPrefix(path, "[].server_metrics.") {
			continue // null in the sample: Meshery's free-form metrics object
		}
		wantTypes, ok := want[path]
		if !ok {
			t.Errorf("export writes %s, which the published results do not have", path)
			continue
		}
		for _, ty := range types {
			if !slices.Contains(wantTypes, ty) && !slices.Contains(wantTypes, "null") {
				t.Errorf("%s is %s in the export, %v in the published results", path, ty, wantTypes)
			}
		}
	}
	notWritten := map[string]string{
		"[].meshery_id": "assigned by Meshery", "[].user_id": "assigned by Meshery",
		"[].created_at": "assigned by Meshery", "[].updated_at": "assigned by Meshery",
		"[].performance_profile": "assigned by Meshery", "[].test_id": "assigned by Meshery",
		"[].runner_results[].HeaderSizes": "not measured", "[].runner_results[].Sizes": "not measured per response",
		"[].runner_results[].SocketCount": "not measured", "[].runner_results[].URL": "not recorded",
		"[].runner_results[].kubernetes": "the netns provider has no Kubernetes",
	}
	for path := range want {
		if _, ok := got[path]; !ok && notWritten[topField(path)] == "" {
			t.Errorf("export lacks %s, which the published results have", path)
		}
	}
}

// topField cuts path after its first field under an element of
// runner_results, or after the result's own field.
func topField(path string) string {
	const rr = "[].runner_results[]."
	if rest, ok := strings.CutPrefix(path, rr); ok {
		name, _, _ := strings.Cut(rest, ".")
		return rr + strings.TrimSuffix(name, "[]")
	}
	rest := strings.TrimPrefix(path, "[].")
	name, _, _ := strings.Cut(rest, ".")
	return "[]." + strings.TrimSuffix(name, "[]")
}

// TestWriteSMPFigures checks the exported numbers against the run's own.
func TestWriteSMPFigures(t *testing.T) {
	run, dir := runWithSamples(t)
	var b bytes.Buffer
	if err := WriteSMP(&b, run, dir); err != nil {
		t.Fatal(err)
	}
	var got []mesheryResult
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 {
		t.Fatalf("%d results, want 7 (the failed case left out)", len(got))
	}
	if got[0].Mesh != nil || got[1].Mesh == nil || *got[1].Mesh != "sidecar-l4" {
		t.Errorf("mesh %v and %v, want null for none and sidecar-l4", got[0].Mesh, got[1].Mesh)
	}
	var starts []time.Time
	for i, r := range got {
		c := &run.Cases[i]
		if r.Name != run.ID+"/"+c.ID || len(r.RunnerResults) != len(c.Repetitions) {
			t.Errorf("result %d: name %q, %d runner results; want %s/%s and %d", i, r.Name, len(r.RunnerResults), run.ID, c.ID, len(c.Repetitions))
			continue
		}
		if r.TestStartTime == nil {
			t.Fatalf("%s: no test_start_time although the samples are there", c.ID)
		}
		starts = append(starts, *r.TestStartTime)
		for j, f := range r.RunnerResults {
			rep := &c.Repetitions[j]
			h := f.DurationHistogram
			if h.Count != int64(rep.Requests) {
				t.Errorf("%s rep %d: histogram count %d, want %d", c.ID, j, h.Count, rep.Requests)
			}
			var sum int64
			for k, d := range h.Data {
				sum += d.Count
				if d.Start > d.End || (k > 0 && d.Start < h.Data[k-1].End-1e-12) {
					t.Errorf("%s rep %d: bucket %d [%g, %g] out of order", c.ID, j, k, d.Start, d.End)
				}
			}
			if sum != h.Count || math.Abs(h.Data[len(h.Data)-1].Percent-100) > 1e-9 || len(h.Data) > histogramBuckets {
				t.Errorf("%s rep %d: %d buckets counting %d of %d, last at %g%%", c.ID, j, len(h.Data), sum, h.Count, h.Data[len(h.Data)-1].Percent)
			}
			p99 := h.Percentiles[slices.IndexFunc(h.Percentiles, func(p fortioPercentile) bool { return p.Percentile == 99 })].Value
			if math.Abs(p99*1e6-rep.LatencyUS.P99) > 1e-6*rep.LatencyUS.P99 {
				t.Errorf("%s rep %d: p99 %g s, want %g µs", c.ID, j, p99, rep.LatencyUS.P99)
			}
			var calls int64
			for _, n := range f.RetCodes {
				calls += n
			}
			if calls != int64(rep.Requests) {
				t.Errorf("%s rep %d: return codes count %d calls, want %d", c.ID, j, calls, rep.Requests)
			}
			wall := time.Duration(f.ActualDuration).Seconds()
			if math.Abs(f.ActualQPS*wall-float64(rep.Requests)) > 1e-6*float64(rep.Requests) {
				t.Errorf("%s rep %d: %g QPS over %g s is not %d calls", c.ID, j, f.ActualQPS, wall, rep.Requests)
			}
			wantStart := time.Date(2025, 6, 1, 12, i, 10*j, 0, time.UTC)
			if f.StartTime == nil || !f.StartTime.Equal(wantStart) {
				t.Errorf("%s rep %d: StartTime %v, want %v (the first sample's intended time)", c.ID, j, f.StartTime, wantStart)
			}
		}
		m := r.ServerMetrics.Meshbench
		if m.Case != c.ID || m.HopsPerReq == nil || *m.HopsPerReq != c.Path.HopsPerRequest || len(m.NodeCosts) != len(c.NodeCosts) {
			t.Errorf("%s: server_metrics.meshbench %+v", c.ID, m)
		}
		if m.NodeCosts[0].Proxies != c.NodeCosts[0].Proxies || m.NodeCosts[0].DatapathMemMB != c.NodeCosts[0].DatapathMemoryBytesMean/(1<<20) {
			t.Errorf("%s: node costs %+v, want %+v", c.ID, m.NodeCosts[0], c.NodeCosts[0])
		}
	}
	if !slices.IsSortedFunc(starts, func(a, b time.Time) int { return a.Compare(b) }) || starts[0].Equal(starts[1]) {
		t.Errorf("test_start_time %v: want each case's own, a minute apart", starts)
	}
}

func TestWriteSMPWithoutSamples(t *testing.T) {
	run := testRun(t)
	run.Cases[1].Repetitions[0].ErrorKinds = map[string]uint64{"http status 503": 2, "dial tcp: connection refused": 1}
	run.Cases[1].Repetitions[0].Errors = 4
	var b bytes.Buffer
	if err := WriteSMP(&b, run, ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "StartTime") || strings.Contains(b.String(), "test_start_time") {
		t.Errorf("start times written without samples to read them from")
	}
	var got []mesheryResult
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	rep := run.Cases[1].Repetitions[0]
	want := map[string]int64{"200": int64(rep.Requests) - 4, "503": 2, "-1": 2}
	if fmt.Sprint(got[1].RunnerResults[0].RetCodes) != fmt.Sprint(want) {
		t.Errorf("RetCodes %v, want %v", got[1].RunnerResults[0].RetCodes, want)
	}
	bad := testRun(t)
	bad.Cases[0].Repetitions[0].Histogram = "not a histogram"
	if err := WriteSMP(&bytes.Buffer{}, bad, ""); err == nil || !strings.Contains(err.Error(), bad.Cases[0].ID) {
		t.Errorf("WriteSMP with a broken histogram: %v, want an error naming the case", err)
	}
}

// The SMP load generator names what sent the requests: vegeta only where
// the case says so, or, in a file from before load_client, for http1 and
// h2c, which vegeta sent then.
func TestLoadGenerator(t *testing.T) {
	for _, tt := range []struct {
		c    results.Case
		want string
	}{
		{results.Case{Protocol: "http1", LoadClient: "lean"}, "meshbench"},
		{results.Case{Protocol: "h2c", LoadClient: "vegeta"}, "vegeta"},
		{results.Case{Protocol: "tcp-rr"}, "meshbench"},
		{results.Case{}, "vegeta"},
		{results.Case{Protocol: "h2c"}, "vegeta"},
	} {
		if got := loadGenerator(&tt.c); got != tt.want {
			t.Errorf("loadGenerator(protocol %q, load client %q) = %q, want %q", tt.c.Protocol, tt.c.LoadClient, got, tt.want)
		}
	}
}
