package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/bench"
)

// The self-check's table marks figures, passes and misses, a miss with its
// reason where it has one, and counts the misses.
func TestPrintChecks(t *testing.T) {
	var out bytes.Buffer
	failed, err := printChecks(&out, []bench.Check{
		{Name: "up", Target: "≤ 5s", Measured: "371ms", Pass: true},
		{Name: "stream vs iperf3", Target: "within ±15%", Measured: "20 vs 10", Why: "senders 49% and 24% of a core"},
		{Name: "tcp-rr vs sockperf", Target: "≤ 1.15×", Measured: "2×"},
		{Name: "floor", Target: "(figure)", Measured: "62µs", Info: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if failed != 2 || len(lines) != 5 {
		t.Fatalf("failed %d, %d lines, want 2 and a header with 4 rows:\n%s", failed, len(lines), out.String())
	}
	for i, want := range []string{"RESULT", "ok", "MISSED: senders 49% and 24% of a core", "MISSED", "figure"} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d %q, want it to end with %q", i, lines[i], want)
		}
	}
	if targets([]bench.Check{{Info: true}, {Pass: true}, {}}) != 2 {
		t.Error("targets counted a figure")
	}
}
