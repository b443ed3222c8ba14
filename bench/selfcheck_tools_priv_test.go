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
	"github.com/meshbench/meshbench/scenarios"
)

// Each cross-check runs against its tools inside a run's namespaces, one
// short round each, and compares parsed, positive figures (the parsers
// refuse zeros); no time is asserted. Nothing of the clusters is left.
func TestCrossChecks(t *testing.T) {
	testutil.Privileged(t)
	tl, err := lookTools(func(name, install string) (string, error) { return testutil.LookPath(t, name, install), nil })
	if err != nil {
		t.Fatal(err)
	}
	x := crossing{tools: tl, rounds: 1, d: time.Second}
	runID := clusters.NewRunID()
	r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: runID, Dir: t.TempDir()})
	// http1's like-for-like rounds, without the accuracy checks' other
	// figures (pacer, floor, probe).
	http1 := func(ctx context.Context, x crossing) ([]Check, error) {
		cr, err := r.crossCase(ctx, 2, scenarios.HTTP1, checkRate, checkConnections, 0, 1024)
		defer r.teardown(ctx, cr)
		if err != nil {
			return nil, err
		}
		client, _ := pods(cr)
		med, why, err := r.independent(ctx, x, cr, client.NetNS, serviceURL(cr))
		if err != nil {
			return nil, err
		}
		return compareLatency("none", likeRatioTarget, x.rounds, med[2], []toolLatency{{"wrk", med[0]}, {"fortio", med[1]}}, why), nil
	}
	for _, tt := range []struct {
		name  string
		check func(context.Context, crossing) ([]Check, error)
		n     int
		index int
	}{
		{"http1 vs wrk and fortio", http1, 2, 2},
		{"tcp-rr vs sockperf and fortio", r.tcpRRCheck, 2, 11},
		{"grpc vs ghz", r.grpcCheck, 2, 12},
		{"stream vs iperf3", r.streamCheck, 2, 13},
		{"tcp-crr vs netperf", r.tcpCRRCheck, 2, 14},
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
