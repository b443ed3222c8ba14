package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/datapaths/sidecar"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// enrolCase is an enrolment case of datapath at l7: the datapath is
// installed after 1 s of a 3 s load.
func enrolCase(datapath string, pods int) scenarios.Case {
	c := testCase(datapath, scenarios.CrossNode, scenarios.DatapathOptions{Mode: scenarios.ModeL7}, pods)
	c.ID += scenarios.EnrolSuffix
	c.EnrolAfter, c.Duration, c.ProbeRequests = time.Second, 3*time.Second, 0
	return c
}

// TestEnrol enrols sidecar and ebpf into running, unmeshed clusters under
// load. Sidecar restarts every server pod (and meshes the client pod in
// place), after which its proxies' own counters took in hand every
// request; ebpf restarts none, the connections opened before keep their
// old path through the node's service NAT, every request on them
// answered, and its proxies take every connection opened from the install
// on: with connections of 15 requests each (load.connectionRequests), all
// of the last second's requests of a 5 s load. Nothing is left.
func TestEnrol(t *testing.T) {
	attach := enrolCase(ebpf.Name, 2)
	attach.Connections, attach.ConnectionRequests = 8, 15
	// Loading the eBPF datapath took over 1.8 s on a busy 2-core machine,
	// which left no poll of its counters before the end of a 3 s load.
	attach.Duration = 5 * time.Second
	cases := []scenarios.Case{enrolCase(sidecar.Name, 2), attach}
	got := runCases(t, cases...)
	for i, rc := range got {
		t.Run(rc.ID, func(t *testing.T) {
			if rc.Status != "ok" {
				t.Fatalf("case %s: %s", rc.Status, rc.Error)
			}
			e := rc.Enrolment
			if bins := int(cases[i].Duration / results.EnrolBin); e == nil || !e.Counted || len(e.Series) != bins {
				t.Fatalf("enrolment = %+v, want a counted series of %d bins", e, bins)
			}
			if e.AfterS < 0.9 || e.AfterS > 1.1 {
				t.Errorf("install began at %.2f s, want about 1 s", e.AfterS)
			}
			// Before the install nothing went through the datapath; from
			// it on, the bins were counted.
			for _, pt := range e.Series {
				if pt.TS < 0.8 && (pt.Share == nil || *pt.Share != 0) {
					t.Errorf("bin at %.1f s before the install: share %v, want 0", pt.TS, pt.Share)
				}
			}
			switch cases[i].Datapath {
			case sidecar.Name:
				if want := cases[i].Services * cases[i].PodsPerService; e.Method != results.EnrolRollingRestart || e.PodsRestarted != want || e.PodsMeshedInPlace != cases[i].ClientPods {
					t.Errorf("sidecar: %s, %d pods restarted, %d in place; want a rolling restart of %d, %d in place", e.Method, e.PodsRestarted, e.PodsMeshedInPlace, want, cases[i].ClientPods)
				}
				if e.FullS == nil || e.FinalShare == nil || *e.FinalShare != 1 {
					t.Errorf("sidecar: to 100%% %v, share at the end %v, after an install of %.2f s; want every request through the sidecars at the end", deref(e.FullS), deref(e.FinalShare), e.InstallS)
				}
			case ebpf.Name:
				if e.Method != results.EnrolAttach || e.PodsRestarted != 0 || e.PodsMeshedInPlace != 0 {
					t.Errorf("ebpf: %s, %d pods restarted, %d in place; want an attach without restarts", e.Method, e.PodsRestarted, e.PodsMeshedInPlace)
				}
				// The connections the load agent opened from the install on
				// went through its proxies (those of the first second did
				// not), and by the last second they carried every request.
				if e.DatapathConnections == nil || *e.DatapathConnections == 0 || *e.DatapathConnections >= e.ClientConnections {
					t.Errorf("ebpf: its proxies took in hand %v of the %d connections opened during the load, want some, not those from before the install", deref(e.DatapathConnections), e.ClientConnections)
				}
				if e.FullS == nil || e.FinalShare == nil || *e.FinalShare != 1 {
					t.Errorf("ebpf: to 100%% %v, share at the end %v, after an install of %.2f s; want every request of the last second through its proxies", deref(e.FullS), deref(e.FinalShare), e.InstallS)
				}
				// The connections opened before the install carried on:
				// their replies took the node's stack, which reverses the
				// service NAT, instead of reaching the client with the
				// server pod's address, which it resets.
				for _, w := range []results.EnrolWindow{e.Before, e.Transition, e.After} {
					if w.Errors != 0 || w.Resets != 0 {
						t.Errorf("ebpf: %d errors (%d resets) of %d requests from %.2f s to %.2f s, want none", w.Errors, w.Resets, w.Requests, w.FromS, w.ToS)
					}
				}
			}
		})
	}
}

// TestEnrolInterrupted cancels a run in the middle of sidecar's rolling
// replacement, once a new pod exists: the case is interrupted, no pod of
// the replacement, old or new, is left, and the host's network is as it
// was.
func TestEnrolInterrupted(t *testing.T) {
	testutil.Privileged(t)
	before := testutil.HostNetwork(t)
	runID := clusters.NewRunID()
	c := enrolCase(sidecar.Name, 3)
	c.Duration = 5 * time.Second
	pods := 1 + c.Nodes + c.ClientPods + c.Services*c.PodsPerService // fabric, nodes, pods
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if left, err := netns.Leftovers(runID + "0"); err == nil && len(left.Namespaces) > pods {
				cancel() // a replacement pod is up
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: runID, Dir: t.TempDir()})
	out, err := r.Run(ctx, []scenarios.Case{c})
	if err == nil || len(out) != 1 || out[0].Status != Interrupted {
		t.Fatalf("Run = %v, %+v; want the case interrupted", err, out)
	}
	if left, err := netns.Leftovers(fmt.Sprintf("%s%d", runID, 0)); err != nil || !left.Empty() {
		t.Errorf("interrupted enrolment left %+v (%v)", left, err)
	}
	if after := testutil.HostNetwork(t); after != before {
		t.Errorf("host network changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
