package bench

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/internal/testutil"
)

// Each cross-check runs against its tool inside a run's namespaces, one
// short round each, and compares parsed, positive figures (the parsers
// refuse zeros); no time is asserted.
func TestCrossChecks(t *testing.T) {
	testutil.Privileged(t)
	tl, err := lookTools(func(name, install string) (string, error) { return testutil.LookPath(t, name, install), nil })
	if err != nil {
		t.Fatal(err)
	}
	x := crossing{tools: tl, rounds: 1, d: time.Second}
	runID := clusters.NewRunID()
	r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: runID, Dir: t.TempDir()})
	for _, tt := range []struct {
		name  string
		check func(context.Context, crossing) ([]Check, error)
		n     int
		index int
	}{
		{"tcp-rr vs sockperf", r.tcpRRCheck, 2, 3},
		{"grpc vs ghz", r.grpcCheck, 2, 4},
		{"stream vs iperf3", r.streamCheck, 2, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checks, err := tt.check(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			if len(checks) != tt.n {
				t.Fatalf("got %d checks, want %d: %+v", len(checks), tt.n, checks)
			}
			for _, c := range checks {
				t.Logf("%s: %s (target %s, pass %v) %s", c.Name, c.Measured, c.Target, c.Pass, c.Why)
				if strings.Contains(c.Measured, "NaN") || strings.Contains(c.Measured, "Inf") {
					t.Errorf("%s measured %q", c.Name, c.Measured)
				}
			}
			if left, err := netns.Leftovers(runID + strconv.Itoa(tt.index)); err != nil || !left.Empty() {
				t.Errorf("left %+v (%v)", left, err)
			}
		})
	}
}
