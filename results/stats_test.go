package results

import (
	"math"
	"slices"
	"testing"
)

func TestEstimateOf(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   Estimate
	}{
		{"none", nil, Estimate{}},
		{"one", []float64{5}, Estimate{Median: 5, Lo: 5, Hi: 5}},
		{"three: range at 75%", []float64{12, 10, 11}, Estimate{Median: 11, Lo: 10, Hi: 12, Confidence: 0.75, CV: 0.0909}},
		{"five: range at 93.75%", []float64{3, 1, 2, 5, 4}, Estimate{Median: 3, Lo: 1, Hi: 5, Confidence: 0.9375, CV: 0.527}},
		// From 6 values benchmath's order-statistic interval reaches 95%.
		{"six: 95% interval", []float64{6, 1, 5, 2, 4, 3}, Estimate{Median: 3.5, Lo: 1, Hi: 6, Confidence: 0.969, CV: 0.535}},
		{"ten", []float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}, Estimate{Median: 5.5, Lo: 2, Hi: 9, Confidence: 0.979, CV: 0.550}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.values)
			got := EstimateOf(in)
			if !slices.Equal(in, tt.values) {
				t.Errorf("EstimateOf changed its input: %v", in)
			}
			near := func(a, b float64) bool { return math.Abs(a-b) < 1e-3 }
			if !near(got.Median, tt.want.Median) || !near(got.Lo, tt.want.Lo) || !near(got.Hi, tt.want.Hi) ||
				!near(got.Confidence, tt.want.Confidence) || !near(got.CV, tt.want.CV) {
				t.Errorf("EstimateOf(%v) = %+v, want %+v", tt.values, got, tt.want)
			}
		})
	}
}

func rep(index int, p50, p99 float64) Repetition {
	return Repetition{Index: index, LatencyUS: Latency{P50: p50, P99: p99}, AchievedRPS: 1000}
}

func TestFinalize(t *testing.T) {
	okCase := func(dp, placement string, reps ...Repetition) Case {
		return Case{ID: dp + "/" + placement, Datapath: dp, Placement: placement, Rate: 1000, Status: "ok", Repetitions: reps}
	}
	run := &Run{Cases: []Case{
		okCase("none", "same-node", rep(0, 50, 100), rep(1, 60, 120), rep(2, 40, 80)),
		// Repetitions out of order: pairing goes by index, not position.
		okCase("sidecar", "same-node", rep(2, 120, 400), rep(0, 150, 500), rep(1, 180, 600)),
		// No none case at cross-node: no overhead.
		okCase("sidecar", "cross-node", rep(0, 200, 900)),
		{ID: "ebpf/same-node", Datapath: "ebpf", Placement: "same-node", Rate: 1000, Status: "failed", Repetitions: []Repetition{rep(0, 1, 1)}},
	}}
	// A stale figure from an earlier call must go.
	run.Cases[3].Stats = &CaseStats{Repetitions: 9}
	Finalize(run)

	none, sidecar, cross, failed := &run.Cases[0], &run.Cases[1], &run.Cases[2], &run.Cases[3]
	if none.Stats == nil || none.Stats.Repetitions != 3 || none.Stats.LatencyUS.P99.Median != 100 {
		t.Errorf("none stats = %+v, want 3 repetitions with p99 median 100", none.Stats)
	}
	if none.OverheadVsNone != nil {
		t.Errorf("none has an overhead against itself: %+v", none.OverheadVsNone)
	}
	o := sidecar.OverheadVsNone
	if o == nil {
		t.Fatalf("sidecar has no overhead vs none")
	}
	// Per index: p99 ratios 500/100, 600/120, 400/80 = 5, 5, 5; p50
	// 150/50, 180/60, 120/40 = 3, 3, 3; added p99 400, 480, 320.
	if o.NoneCase != "none/same-node" || o.Pairs != 3 {
		t.Errorf("overhead against %q with %d pairs, want none/same-node and 3", o.NoneCase, o.Pairs)
	}
	if o.Ratio.P99.Median != 5 || o.Ratio.P99.CV != 0 || o.Ratio.P50.Median != 3 {
		t.Errorf("ratios p50 %+v p99 %+v, want medians 3 and 5 without spread", o.Ratio.P50, o.Ratio.P99)
	}
	if o.AddedUS.P99.Median != 400 || o.AddedUS.P99.Lo != 320 || o.AddedUS.P99.Hi != 480 {
		t.Errorf("added p99 = %+v, want median 400 in [320, 480]", o.AddedUS.P99)
	}
	if cross.Stats == nil || cross.OverheadVsNone != nil {
		t.Errorf("cross-node sidecar: stats %v, overhead %v; want stats and no overhead", cross.Stats, cross.OverheadVsNone)
	}
	if failed.Stats != nil || failed.OverheadVsNone != nil {
		t.Errorf("failed case has stats %+v, overhead %+v", failed.Stats, failed.OverheadVsNone)
	}

	// Finalize is idempotent.
	before := *sidecar.OverheadVsNone
	Finalize(run)
	if *sidecar.OverheadVsNone != before {
		t.Errorf("second Finalize changed the overhead: %+v, want %+v", *sidecar.OverheadVsNone, before)
	}
}

func TestOverheadRatiosSkipsZeroBase(t *testing.T) {
	c := &Case{Repetitions: []Repetition{rep(0, 10, 10), rep(1, 10, 10)}}
	none := &Case{Repetitions: []Repetition{rep(0, 0, 0), rep(1, 5, 5)}}
	if got := OverheadRatios(c, none, P99); !slices.Equal(got, []float64{2}) {
		t.Errorf("OverheadRatios = %v, want [2]", got)
	}
}

// TestFinalizeEncryptedNone checks that none over WireGuard is a variant
// measured against the unencrypted none, not the floor itself, whichever
// comes first.
func TestFinalizeEncryptedNone(t *testing.T) {
	wg := Case{ID: "none/cross-node", Datapath: "none", Encryption: "wireguard", EncryptionImplementation: "userspace",
		Placement: "cross-node", Rate: 1000, Status: "ok", Repetitions: []Repetition{rep(0, 150, 300)}}
	plain := Case{ID: "none/cross-node", Datapath: "none", Placement: "cross-node", Rate: 1000, Status: "ok",
		Repetitions: []Repetition{rep(0, 100, 200)}}
	run := &Run{Cases: []Case{wg, plain}}
	Finalize(run)
	o := run.Cases[0].OverheadVsNone
	if o == nil || o.Ratio.P99.Median != 1.5 {
		t.Errorf("none over wireguard: overhead %+v, want p99 1.5× the unencrypted none's", o)
	}
	if run.Cases[1].OverheadVsNone != nil {
		t.Errorf("unencrypted none has an overhead against itself: %+v", run.Cases[1].OverheadVsNone)
	}
	if got := run.NoneFor(&run.Cases[0]); got != &run.Cases[1] {
		t.Errorf("NoneFor picked %+v, want the unencrypted none", got)
	}
}
