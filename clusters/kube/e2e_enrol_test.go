package kube_test

import (
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results"
)

// TestEnrolOnTestCluster enrols sidecar and ebpf into the running,
// unmeshed test cluster under load: sidecar by labelling the namespace and
// replacing both server pods (the real webhook injects the new ones, the
// client pod gets its containers as ephemeral containers), ebpf by
// attaching to the running pods. Both end with every request through the
// datapath, counted by its own per-source counters; sidecar restarted the
// two server pods, ebpf none. Nothing is left behind.
func TestEnrolOnTestCluster(t *testing.T) {
	run, client := runOnTestCluster(t, "testdata/enrol.yaml")
	enrolled := 0
	for _, c := range run.Cases {
		if c.Status != "ok" {
			t.Errorf("case %s: %s: %s", c.ID, c.Status, c.Error)
			continue
		}
		if !strings.HasSuffix(c.ID, "/enrol") {
			continue
		}
		enrolled++
		e := c.Enrolment
		if e == nil || !e.Counted {
			t.Errorf("case %s: enrolment %+v, want one counted", c.ID, e)
			continue
		}
		t.Logf("%s: %s, install %.1f s from %.1f s, %d restarted, %d in place, 100%% after %v s, final share %v, connections %v of %d; before %+v, transition %+v, after %+v; %s",
			c.ID, e.Method, e.InstallS, e.AfterS, e.PodsRestarted, e.PodsMeshedInPlace, deref(e.FullS), deref(e.FinalShare),
			deref(e.DatapathConnections), e.ClientConnections, e.Before, e.Transition, e.After, e.Note)
		want := map[string][3]any{ // method, restarted, in place
			"sidecar": {results.EnrolRollingRestart, 2, 1},
			"ebpf":    {results.EnrolAttach, 0, 0},
		}[c.Datapath]
		if got := [3]any{e.Method, e.PodsRestarted, e.PodsMeshedInPlace}; got != want {
			t.Errorf("%s: method, pods restarted, meshed in place %v, want %v", c.ID, got, want)
		}
		if e.FinalShare == nil || *e.FinalShare != 1 {
			t.Errorf("%s: share through the datapath in the last second %v, want every request", c.ID, deref(e.FinalShare))
		}
		if e.Before.Errors != 0 {
			t.Errorf("%s: %d errors before the install, want none", c.ID, e.Before.Errors)
		}
	}
	if enrolled != 2 {
		t.Errorf("%d enrolment cases ran, want 2 (sidecar and ebpf)", enrolled)
	}
	assertNoNamespaces(t, client)
	assertNoTables(t, client)
}
