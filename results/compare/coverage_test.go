package compare

import (
	"testing"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/resultstest"
)

// withCoverage gives every case a coverage block whose unmeshed source had
// through of its 100 requests through the datapath.
func withCoverage(run *results.Run, through uint64) {
	for i := range run.Cases {
		all, part := uint64(100), through
		run.Cases[i].Coverage = &results.Coverage{Counted: true, Basis: results.BasisConnections, Sources: []results.SourceCoverage{
			{Source: results.SourceMeshed, Sent: 100, Through: &all},
			{Source: results.SourceMislabelled, Sent: 100, Through: &part},
		}}
	}
}

// TestGateCoverage fails a candidate whose datapath lost a source it
// covered before, and passes one that covers as much.
func TestGateCoverage(t *testing.T) {
	tests := []struct {
		name       string
		base, cand uint64
		limits     string
		want       int // violations of coverage
	}{
		{"covered as before", 100, 100, "coverage=0", 0},
		{"lost the mislabelled pod", 100, 0, "coverage=0", 1},
		{"lost half, half allowed", 100, 50, "coverage=50", 0},
		{"lost half, 10% allowed", 100, 50, "coverage=10%", 1},
		{"gained", 0, 100, "coverage=0", 0},
		{"off", 100, 0, "coverage=off", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, cand := resultstest.Run(t, resultstest.Options{}), resultstest.Run(t, resultstest.Options{})
			withCoverage(base, tt.base)
			withCoverage(cand, tt.cand)
			g := Gate(mustCompare(t, base, cand), mustLimits(t, tt.limits))
			got := 0
			for _, v := range g.Violations {
				if v.Metric == "coverage" {
					got++
				}
			}
			if want := tt.want * len(cand.Cases); got != want {
				t.Errorf("%d coverage violations, want %d: %v", got, want, g.Violations)
			}
		})
	}
}
