package netns

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/testutil"
)

// TestRollPod replaces a server pod as a rolling update does: the new pod
// answers on the service VIP from every node once its endpoint is
// switched, the old one is gone from the topology and the host after
// DeletePod, and a deleted pod that is still an endpoint is refused.
func TestRollPod(t *testing.T) {
	c := newCluster(t, smallSpec(""))
	ctx := context.Background()
	topo := c.Topology()
	svc, _ := topo.Service("server")
	client, _ := topo.Pod("client-0")
	old, _ := topo.Pod("server-1")

	if err := c.DeletePod(ctx, old.Name); err == nil {
		t.Errorf("DeletePod of an endpoint = nil, want an error")
	}
	p, err := c.AddPod(ctx, old.Name)
	if err != nil {
		t.Fatalf("AddPod: %v", err)
	}
	if p.Node != old.Node || p.Service != old.Service || p.IP == old.IP || p.NetNS == old.NetNS || p.Cgroup == old.Cgroup {
		t.Errorf("new pod %+v, want another namespace, address and cgroup than %+v on its node", p, old)
	}
	for _, q := range topo.Pods {
		if q.Name != p.Name && q.IP == p.IP {
			t.Errorf("new pod %s has the address of pod %s", p.Name, q.Name)
		}
	}
	serve(t, p.NetNS, hostPort(p.IP, svc.TargetPort), "new")
	for _, other := range []string{"server-0", "server-2"} {
		o, _ := topo.Pod(other)
		serve(t, o.NetNS, hostPort(o.IP, svc.TargetPort), "old")
	}
	if err := c.SwitchEndpoint(ctx, old.Name, p.Name); err != nil {
		t.Fatalf("SwitchEndpoint: %v", err)
	}
	if got, _ := topo.Service("server"); !slices.Contains(got.Pods, p.Name) || slices.Contains(got.Pods, old.Name) {
		t.Errorf("service pods after the switch = %v, want %s in %s's place", got.Pods, p.Name, old.Name)
	}
	// server-1 serves nothing now: every answer comes from a pod that is
	// an endpoint, the new one among them.
	seen := map[string]int{}
	for range 60 {
		got, err := ask(client.NetNS, hostPort(svc.VIP, svc.Port))
		if err != nil {
			t.Fatalf("ask the VIP after the switch: %v", err)
		}
		seen[got]++
	}
	if seen["new"] == 0 {
		t.Errorf("answers %v: the new pod got none", seen)
	}
	if err := c.DeletePod(ctx, old.Name); err != nil {
		t.Fatalf("DeletePod: %v", err)
	}
	if _, ok := topo.Pod(old.Name); ok || exists(old.NetNS) || exists(filepath.Join(c.cg.mounts.V2, old.Cgroup)) {
		t.Errorf("pod %s is left after DeletePod (in topology %t, namespace %t)", old.Name, ok, exists(old.NetNS))
	}
}

// TestCleanupRemovesRolledPods checks that the pods a rolling
// replacement added, under their own numbers, are the run's to clean up:
// cleanup of a run killed mid-roll removes them with the rest.
func TestCleanupRemovesRolledPods(t *testing.T) {
	testutil.Privileged(t)
	ctx := context.Background()
	spec := smallSpec(clusters.NewRunID())
	p := New(Options{StateRoot: t.TempDir()})
	cl, err := p.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	c := cl.(*Cluster)
	t.Cleanup(func() { _ = c.Delete(ctx) })
	added, err := c.AddPod(ctx, "server-0")
	if err != nil {
		t.Fatalf("AddPod: %v", err)
	}
	if _, err := c.Start(ctx, clusters.ProcSpec{Target: clusters.Target{Pod: added.Name}, Name: "hang", Args: []string{"agent", "hang"}}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	left, err := Leftovers(spec.RunID)
	if err != nil || !slices.Contains(left.Namespaces, filepath.Base(added.NetNS)) {
		t.Fatalf("Leftovers = %+v, %v; want the added pod's namespace among them", left.Namespaces, err)
	}
	if _, err := p.Cleanup(ctx, spec.RunID); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	assertNoLeftovers(t, spec.RunID)
}
