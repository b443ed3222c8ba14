package compare

import (
	"encoding/json"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/resultstest"
)

func TestParseLimits(t *testing.T) {
	tests := []struct {
		in      string
		want    Limits
		wantErr string
	}{
		{in: "", want: Limits{}},
		{in: "p99_overhead=10%,hops=0,memory=5%", want: Limits{
			"p99_overhead": {Metric: "p99_overhead", Max: 0.1, Relative: true},
			"hops":         {Metric: "hops", Max: 0},
			"memory":       {Metric: "memory", Max: 0.05, Relative: true},
		}},
		{in: " errors = 0.5 , ", want: Limits{"errors": {Metric: "errors", Max: 0.5}}},
		{in: "hops=off", want: Limits{"hops": {Metric: "hops", Max: math.Inf(1)}}},
		{in: "p99_overhead", wantErr: "is not metric=limit"},
		{in: "latency=10%", wantErr: `unknown metric "latency"; known: p50, p90`},
		{in: "hops=-1", wantErr: "want a number ≥ 0"},
		{in: "hops=NaN", wantErr: "want a number ≥ 0"},
		{in: "memory=5%%", wantErr: "want a number ≥ 0"},
		{in: "hops=0,hops=1", wantErr: "hops is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLimits(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseLimits(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLimits(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLimits(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestLimitsApply(t *testing.T) {
	got := mustLimits(t, DefaultLimits).Apply(mustLimits(t, "hops=off,memory=5%,p99_overhead=20%"))
	if want := "errors=1,hops=off,memory=5%,p99_overhead=20%,proxies=0"; got.String() != want {
		t.Errorf("Apply = %s, want %s", got, want)
	}
}

func FuzzParseLimits(f *testing.F) {
	for _, s := range []string{DefaultLimits, "hops=off", "memory=5%", "p99=1e309", "x=", "=,=", "p99_overhead=10%%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := ParseLimits(s)
		if err != nil {
			return
		}
		for k, l := range ls {
			if k != l.Metric || metricByName(k) == nil || !(l.Max >= 0) {
				t.Fatalf("ParseLimits(%q) accepted %+v", s, l)
			}
		}
		// What String writes parses back to the same limits.
		again, err := ParseLimits(ls.String())
		if err != nil || again.String() != ls.String() {
			t.Fatalf("ParseLimits(%q).String() = %q does not parse back: %v", s, ls.String(), err)
		}
	})
}

// FuzzCompare feeds arbitrary candidate records through Compare, Gate and
// the writers: whatever a result file decodes to must give an error or a
// report, never a panic. (FuzzRead in package results covers the decoder.)
func FuzzCompare(f *testing.F) {
	base := resultstest.Run(f, resultstest.Options{Datapaths: []string{"none", "ebpf"}, Placements: []string{"cross-node"}})
	seed, err := json.Marshal(base)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"schema_version":1,"cases":[{"id":"none/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024","status":"ok"}]}`))
	f.Add([]byte(`{"schema_version":1,"cases":[]}`))
	limits := mustLimits(f, DefaultLimits)
	f.Fuzz(func(t *testing.T, data []byte) {
		var cand results.Run
		if json.Unmarshal(data, &cand) != nil {
			return
		}
		r, err := Compare(base, &cand)
		if err != nil {
			return
		}
		if err := r.Write(io.Discard); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if err := Gate(r, limits).Write(io.Discard); err != nil {
			t.Fatalf("gate Write: %v", err)
		}
	})
}
