package bench

import (
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
