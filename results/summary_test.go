package results

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"testing"
	"time"
)

// syntheticSamples returns n successful samples intended 1 ms apart from
// 1 ms on, with latencies 1µs..n µs, half of them lateness, followed by the
// given failures, intended at 1 ms unless they say otherwise.
func syntheticSamples(tb testing.TB, n int, failures ...Sample) []Sample {
	tb.Helper()
	samples := make([]Sample, 0, n+len(failures))
	for i := 1; i <= n; i++ {
		samples = append(samples, Sample{
			Seq:      uint64(i),
			Intended: int64(i) * int64(time.Millisecond),
			Latency:  time.Duration(i) * time.Microsecond,
			Service:  time.Duration(i) * time.Microsecond / 2,
			Code:     200,
		})
	}
	for _, f := range failures {
		if f.Intended == 0 {
			f.Intended = int64(time.Millisecond)
		}
		samples = append(samples, f)
	}
	return samples
}

// near reports whether got is within HDR's 3-significant-digit resolution of want.
func near(got, want float64) bool { return math.Abs(got-want) <= want*1e-3 }

func TestSummarize(t *testing.T) {
	failures := []Sample{
		{Error: "dial tcp 10.0.0.1:80: connect: connection refused"},
		{Error: "dial tcp 10.0.0.1:80: connect: connection refused"},
		{Error: "read tcp 10.0.1.2:41234->10.0.0.1:80: read: connection reset by peer"},
		{Error: "read tcp 10.0.1.2:50000->10.0.0.1:80: read: connection reset by peer"},
		{Code: 503, Latency: 500 * time.Millisecond},
		{Code: 0},
		{Code: 302},
		{Code: 503},
		{Code: 199},
		{Code: 500},
	}
	rep, err := Summarize(syntheticSamples(t, 1000, failures...), Plan{Requests: 1020, Duration: time.Second})
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
	// From the first intended send (1 ms) to the last completion (1 s + 1 ms).
	if got, want := rep.AchievedRPS, 1000.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("achieved rps = %v, want %v (successes over the wall time)", got, want)
	}
	if rep.Unsent != 10 {
		t.Errorf("unsent = %d, want 10 (1020 planned, 1010 sent)", rep.Unsent)
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

// paced returns n successful samples intended interval apart, each taking
// latency, of which late was spent before the send.
func paced(n int, interval, latency, late time.Duration) []Sample {
	samples := make([]Sample, n)
	for i := range samples {
		samples[i] = Sample{Seq: uint64(i), Intended: int64(i) * int64(interval), Latency: latency, Service: latency - late, Code: 200}
	}
	return samples
}

func TestSummarizeAchievedRate(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		plan    Plan
		want    float64
		unsent  uint64
	}{
		// 1000 requests over 999 ms of schedule plus the last one's 1 ms slot.
		{"on schedule", paced(1000, time.Millisecond, time.Millisecond, 0), Plan{1000, time.Second}, 1000, 0},
		{"unknown plan", paced(1000, time.Millisecond, time.Millisecond, 0), Plan{}, 1000, 0},
		{"quick responses", paced(1000, time.Millisecond, 100*time.Microsecond, 0), Plan{1000, time.Second}, 1000, 0},
		// The last request was sent a second late: the wall time doubles.
		{"late send", append(paced(999, time.Millisecond, time.Millisecond, 0),
			Sample{Seq: 999, Intended: int64(999 * time.Millisecond), Latency: time.Second + time.Millisecond, Code: 200}), Plan{1000, time.Second}, 1000 / 2.000, 0},
		// The last response took a second, sent on time: latency, not rate.
		{"slow last response", append(paced(999, time.Millisecond, time.Millisecond, 0),
			Sample{Seq: 999, Intended: int64(999 * time.Millisecond), Latency: time.Second, Service: time.Second, Code: 200}), Plan{1000, time.Second}, 1000, 0},
		// Half the schedule was not sent by the deadline.
		{"unsent", paced(500, time.Millisecond, time.Millisecond, 0), Plan{1000, time.Second}, 500, 500},
		{"failures do not count", append(paced(10, 100*time.Millisecond, 100*time.Millisecond, 0), Sample{Intended: 0, Latency: time.Millisecond}), Plan{11, time.Second}, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Summarize(tt.samples, tt.plan)
			if err != nil {
				t.Fatalf("Summarize: %v", err)
			}
			if math.Abs(rep.AchievedRPS-tt.want) > 1e-6 {
				t.Errorf("achieved rps = %v, want %v", rep.AchievedRPS, tt.want)
			}
			if rep.Unsent != tt.unsent {
				t.Errorf("unsent = %d, want %d", rep.Unsent, tt.unsent)
			}
		})
	}
}

func TestSummarizeLateness(t *testing.T) {
	samples := append(paced(990, time.Millisecond, time.Millisecond, 20*time.Microsecond),
		paced(10, time.Millisecond, 3*time.Millisecond, 2*time.Millisecond)...)
	rep, err := Summarize(samples, Plan{})
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}
	l := rep.PacerLatenessUS
	if l == nil || !near(l.P50, 20) || !near(l.P99, 20) {
		t.Errorf("lateness = %+v, want p50 and p99 20µs", l)
	}
	samples = append(samples, paced(20, time.Millisecond, 3*time.Millisecond, 2*time.Millisecond)...)
	if rep, _ = Summarize(samples, Plan{}); !near(rep.PacerLatenessUS.P99, 2000) {
		t.Errorf("lateness with 3%% late by 2 ms = %+v, want p99 2000µs", rep.PacerLatenessUS)
	}
}

func TestJudgeRate(t *testing.T) {
	lat := func(p50, p99 float64) *Lateness { return &Lateness{P50: p50, P99: p99} }
	tests := []struct {
		name     string
		c        Case
		fraction float64
		short    bool
		lateness *Lateness
	}{
		{"on target", Case{Rate: 1000, AchievedRPS: 995, Repetitions: []Repetition{{PacerLatenessUS: lat(10, 100)}}}, 0.995, false, lat(10, 100)},
		{"short", Case{Rate: 40000, AchievedRPS: 15700, Repetitions: []Repetition{
			{PacerLatenessUS: lat(10, 100)}, {PacerLatenessUS: lat(30, 300)}, {PacerLatenessUS: lat(20, 200)}}}, 15700.0 / 40000, true, lat(20, 200)},
		{"old repetitions", Case{Rate: 1000, AchievedRPS: 1000, Repetitions: []Repetition{{}}}, 1, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			JudgeRate(&tt.c)
			if tt.c.AchievedFraction == nil || *tt.c.AchievedFraction != tt.fraction || tt.c.RateShortfall != tt.short {
				t.Errorf("fraction, shortfall = %v, %v, want %v, %v", tt.c.AchievedFraction, tt.c.RateShortfall, tt.fraction, tt.short)
			}
			if !reflect.DeepEqual(tt.c.PacerLatenessUS, tt.lateness) {
				t.Errorf("lateness = %+v, want %+v", tt.c.PacerLatenessUS, tt.lateness)
			}
		})
	}
}

func TestSummarizeClampsLatency(t *testing.T) {
	samples := []Sample{
		{Code: 200, Latency: 2 * time.Minute},
		{Code: 200, Latency: -time.Millisecond},
	}
	rep, err := Summarize(samples, Plan{})
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
	rep, err := Summarize(syntheticSamples(t, 1, failures...), Plan{})
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
	}{
		{"no samples", nil},
		{"zero wall time", []Sample{{Intended: 5, Code: 200}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Summarize(tt.samples, Plan{}); err == nil {
				t.Errorf("Summarize succeeded, want an error")
			}
		})
	}
}

func TestHistogramRoundTrip(t *testing.T) {
	rep, err := Summarize(syntheticSamples(t, 5000, Sample{Code: 500}), Plan{})
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

// Connect times of successful samples are summarised apart; persistent
// connections (Connect 0) leave ConnectUS nil, and so does any repetition
// without them in the case's aggregate.
func TestSummarizeConnect(t *testing.T) {
	samples := syntheticSamples(t, 100, Sample{Error: "refused", Connect: time.Hour})
	if rep, err := Summarize(samples, Plan{}); err != nil || rep.ConnectUS != nil {
		t.Fatalf("without connect times: ConnectUS = %+v, %v; want nil", rep.ConnectUS, err)
	}
	for i := range samples[:100] {
		samples[i].Connect = time.Duration(i+1) * 10 * time.Microsecond
	}
	rep, err := Summarize(samples, Plan{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ConnectUS == nil || !near(rep.ConnectUS.P50, 500) || !near(rep.ConnectUS.Max, 1000) {
		t.Errorf("ConnectUS = %+v, want p50 500µs, max 1ms (the failed sample's hour left out)", rep.ConnectUS)
	}
	other := rep
	other.ConnectUS = &Latency{P50: 20.5, Max: 30}
	if got := AggregateConnect([]Repetition{rep, other, other}); got == nil || got.P50 != 20.5 {
		t.Errorf("AggregateConnect = %+v, want the median p50 20.5", got)
	}
	if got := AggregateConnect([]Repetition{rep, {}}); got != nil {
		t.Errorf("AggregateConnect with a repetition without connect times = %+v, want nil", got)
	}
}
