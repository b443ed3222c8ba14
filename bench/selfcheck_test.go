package bench

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results"
)

// The throughput check passes on the target rate and fails on a shortfall
// of more than 1%, saying what was sent late and not at all.
func TestThroughputCheck(t *testing.T) {
	tests := []struct {
		name string
		rep  results.Repetition
		pass bool
		want string
	}{
		{"on rate", results.Repetition{AchievedRPS: 19950, PacerLatenessUS: &results.Lateness{P50: 15, P99: 150}}, true,
			"19950 req/s (99.8%), 0.00% errors, sent late by 15.0µs p50, 150µs p99"},
		{"above the ceiling", results.Repetition{AchievedRPS: 4504, ErrorRate: 56.0 / 23131, Unsent: 36869, PacerLatenessUS: &results.Lateness{P50: 685e3, P99: 3.77e6}}, false,
			"4504 req/s (22.5%), 0.24% errors, 36869 not sent, sent late by 685ms p50, 3.77s p99"},
		{"just short", results.Repetition{AchievedRPS: 19790}, false, "19790 req/s (99.0%), 0.00% errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := throughputCheck("load agent", tt.rep, 20000)
			if c.Pass != tt.pass || c.Measured != tt.want || !strings.Contains(c.Target, "99%") {
				t.Errorf("check = %+v, want pass %v, measured %q, target 99%%", c, tt.pass, tt.want)
			}
		})
	}
}

// wrk's and fortio's outputs, as captured from wrk 4.1 and fortio 1.63.10,
// give their p50 and p90 in µs.
func TestIndependentOutputs(t *testing.T) {
	wrk, err := os.ReadFile("testdata/wrk.txt")
	if err != nil {
		t.Fatal(err)
	}
	fortio, err := os.ReadFile("testdata/fortio.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		parse func([]byte) (results.Latency, error)
		out   []byte
		want  results.Latency
	}{
		{"wrk", parseWrk, wrk, results.Latency{P50: 50, P90: 109}},
		{"fortio", parseFortio, fortio, results.Latency{P50: 316.66666666666663, P90: 450}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.P50-tt.want.P50) > 1e-6 || math.Abs(got.P90-tt.want.P90) > 1e-6 {
				t.Errorf("p50, p90 = %v, %v µs, want %v, %v", got.P50, got.P90, tt.want.P50, tt.want.P90)
			}
		})
	}
	// A fortio run in which calls failed is no comparison.
	failed := bytes.Replace(fortio, []byte(`"200": 20`), []byte(`"200": 19, "-1": 1`), 1)
	if _, err := parseFortio(failed); err == nil || !strings.Contains(err.Error(), "19 of 20") {
		t.Errorf("fortio with a failed call: error %v, want one saying 19 of 20 answered", err)
	}
	if _, err := parseWrk([]byte("Running 1s test\n")); err == nil {
		t.Error("wrk output without a latency distribution parsed")
	}
}

// The like-for-like check compares with the better of the two tools, and
// fails above 1.05× of it.
func TestLikeForLike(t *testing.T) {
	wrk := results.Latency{P50: 200, P90: 300}
	fortio := results.Latency{P50: 220, P90: 280}
	checks := likeForLike(results.Latency{P50: 209, P90: 300}, wrk, fortio)
	if len(checks) != 2 {
		t.Fatalf("got %d checks, want p50 and p90", len(checks))
	}
	if !checks[0].Pass || !strings.Contains(checks[0].Measured, "(1.04×)") {
		t.Errorf("p50 209 vs best 200: %+v, want a pass at 1.04×", checks[0])
	}
	if checks[1].Pass || !strings.Contains(checks[1].Measured, "(1.07×)") {
		t.Errorf("p90 300 vs best 280: %+v, want a miss at 1.07×", checks[1])
	}
}

// The lateness check needs both p50 and p99 within target, and fails when
// lateness was not measured.
func TestLatenessCheck(t *testing.T) {
	tests := []struct {
		late *results.Lateness
		pass bool
	}{
		{&results.Lateness{P50: 19, P99: 150}, true},
		{&results.Lateness{P50: 25, P99: 150}, false},
		{&results.Lateness{P50: 10, P99: 250}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if c := latenessCheck("pacer", results.Repetition{PacerLatenessUS: tt.late}); c.Pass != tt.pass {
			t.Errorf("lateness %+v: %+v, want pass %v", tt.late, c, tt.pass)
		}
	}
}
