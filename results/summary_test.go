package results

import (
	"fmt"
	"maps"
	"math"
	"testing"
	"time"
)

// syntheticSamples returns n successful samples with latencies 1µs..n µs,
// followed by the given failures.
func syntheticSamples(tb testing.TB, n int, failures ...Sample) []Sample {
	tb.Helper()
	samples := make([]Sample, 0, n+len(failures))
	for i := 1; i <= n; i++ {
		samples = append(samples, Sample{
			Seq:      uint64(i),
			Intended: int64(i) * int64(time.Millisecond),
			Latency:  time.Duration(i) * time.Microsecond,
			Code:     200,
		})
	}
	return append(samples, failures...)
}

// near reports whether got is within HDR's 3-significant-digit resolution of want.
func near(got, want float64) bool { return math.Abs(got-want) <= want*1e-3 }

func TestSummarize(t *testing.T) {
	failures := []Sample{
		{Error: "dial tcp 10.0.0.1:80: connect: connection refused"},
		{Error: "dial tcp 10.0.0.1:80: connect: connection refused"},
		{Error: "read tcp 10.0.1.2:41234->10.0.0.1:80: read: connection reset by peer"},
		{Error: "read tcp 10.0.1.2:50000->10.0.0.1:80: read: connection reset by peer"},
		{Code: 503, Latency: time.Hour},
		{Code: 0},
		{Code: 302},
		{Code: 503},
		{Code: 199},
		{Code: 500},
	}
	rep, err := Summarize(syntheticSamples(t, 1000, failures...), time.Second)
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}

	for _, p := range []struct {
		name      string
		got, want float64
	}{
		{"p50", rep.LatencyUS.P50, 500},
		{"p90", rep.LatencyUS.P90, 900},
		{"p99", rep.LatencyUS.P99, 990},
		{"p99.9", rep.LatencyUS.P999, 999},
		{"max", rep.LatencyUS.Max, 1000},
		{"mean", rep.LatencyUS.Mean, 500.5},
	} {
		if !near(p.got, p.want) {
			t.Errorf("%s = %vµs, want %vµs ± 0.1%%", p.name, p.got, p.want)
		}
	}
	if rep.Requests != 1010 || rep.Errors != 10 {
		t.Errorf("requests, errors = %d, %d, want 1010, 10", rep.Requests, rep.Errors)
	}
	if got, want := rep.ErrorRate, 10.0/1010; got != want {
		t.Errorf("error rate = %v, want %v", got, want)
	}
	if got, want := rep.AchievedRPS, 1000.0; got != want {
		t.Errorf("achieved rps = %v, want %v (successes over the window)", got, want)
	}
	wantKinds := map[string]uint64{
		"dial tcp 10.0.0.1:80: connect: connection refused":                2,
		"read tcp 10.0.1.2:*->10.0.0.1:80: read: connection reset by peer": 2,
		"http status 503": 2,
		"http status 0":   1,
		"http status 302": 1,
		"http status 199": 1,
		"http status 500": 1,
	}
	if !maps.Equal(rep.ErrorKinds, wantKinds) {
		t.Errorf("error kinds = %v, want %v", rep.ErrorKinds, wantKinds)
	}
}

func TestSummarizeAchievedRate(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		window time.Duration
		want   float64
	}{
		{"full rate", 1000, time.Second, 1000},
		{"half the window", 1000, 2 * time.Second, 500},
		{"short window", 10, 100 * time.Millisecond, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Summarize(syntheticSamples(t, tt.n), tt.window)
			if err != nil {
				t.Fatalf("Summarize: %v", err)
			}
			if math.Abs(rep.AchievedRPS-tt.want) > 1e-9 {
				t.Errorf("achieved rps = %v, want %v", rep.AchievedRPS, tt.want)
			}
			if rep.ErrorRate != 0 || rep.ErrorKinds != nil {
				t.Errorf("error rate, kinds = %v, %v, want 0, none", rep.ErrorRate, rep.ErrorKinds)
			}
		})
	}
}

func TestSummarizeClampsLatency(t *testing.T) {
	samples := []Sample{
		{Code: 200, Latency: 2 * time.Minute},
		{Code: 200, Latency: -time.Millisecond},
	}
	rep, err := Summarize(samples, time.Second)
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}
	if want := 60e6; !near(rep.LatencyUS.Max, want) {
		t.Errorf("max = %vµs, want the 60 s ceiling %vµs", rep.LatencyUS.Max, want)
	}
}

func TestSummarizeErrorKindsBounded(t *testing.T) {
	var failures []Sample
	for i := range 2 * maxErrorKinds {
		failures = append(failures, Sample{Error: fmt.Sprintf("failure %d", i)})
	}
	rep, err := Summarize(syntheticSamples(t, 1, failures...), time.Second)
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}
	if got, want := len(rep.ErrorKinds), maxErrorKinds+1; got != want {
		t.Errorf("%d error kinds, want %d", got, want)
	}
	if got, want := rep.ErrorKinds[otherErrors], uint64(maxErrorKinds); got != want {
		t.Errorf("%q = %d, want %d", otherErrors, got, want)
	}
}

func TestSummarizeRefuses(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		window  time.Duration
	}{
		{"no samples", nil, time.Second},
		{"zero window", syntheticSamples(t, 10), 0},
		{"negative window", syntheticSamples(t, 10), -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Summarize(tt.samples, tt.window); err == nil {
				t.Errorf("Summarize succeeded, want an error")
			}
		})
	}
}

func TestHistogramRoundTrip(t *testing.T) {
	rep, err := Summarize(syntheticSamples(t, 5000, Sample{Code: 500}), 5*time.Second)
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}
	h, err := DecodeHistogram(rep.Histogram)
	if err != nil {
		t.Fatalf("DecodeHistogram: %v", err)
	}
	if got, want := HistogramLatency(h), rep.LatencyUS; got != want {
		t.Errorf("decoded percentiles = %+v, want %+v", got, want)
	}
	if got, want := h.TotalCount(), int64(5000); got != want {
		t.Errorf("decoded count = %d, want %d (successes only)", got, want)
	}
}

func TestDecodeHistogramRefuses(t *testing.T) {
	for _, s := range []string{"", "not base64!", "aGVsbG8gd29ybGQ="} {
		t.Run(s, func(t *testing.T) {
			if _, err := DecodeHistogram(s); err == nil {
				t.Errorf("DecodeHistogram(%q) succeeded, want an error", s)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	rep := func(p50, rps, errRate float64) Repetition {
		return Repetition{
			LatencyUS:   Latency{P50: p50, P90: 2 * p50, P99: 3 * p50, P999: 4 * p50, Max: 5 * p50, Mean: p50},
			AchievedRPS: rps,
			ErrorRate:   errRate,
		}
	}
	tests := []struct {
		name                      string
		reps                      []Repetition
		wantP50, wantRPS, wantErr float64
	}{
		{"none", nil, 0, 0, 0},
		{"one", []Repetition{rep(100, 999, 0.1)}, 100, 999, 0.1},
		{"odd", []Repetition{rep(300, 990, 0), rep(100, 1000, 0.2), rep(200, 995, 0.1)}, 200, 995, 0.1},
		{"even", []Repetition{rep(100, 1000, 0), rep(400, 980, 0.4), rep(200, 990, 0), rep(300, 1000, 0)}, 250, 995, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lat, rps, errRate := Aggregate(tt.reps)
			want := Latency{P50: tt.wantP50, P90: 2 * tt.wantP50, P99: 3 * tt.wantP50, P999: 4 * tt.wantP50, Max: 5 * tt.wantP50, Mean: tt.wantP50}
			if lat != want {
				t.Errorf("latency = %+v, want %+v", lat, want)
			}
			if rps != tt.wantRPS || errRate != tt.wantErr {
				t.Errorf("rps, error rate = %v, %v, want %v, %v", rps, errRate, tt.wantRPS, tt.wantErr)
			}
		})
	}
}
