package kube

import (
	"net/netip"
	"testing"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
)

// TestPlace fills a node's pod cgroup root from its node agent's own
// cgroup, also on a node without the run's pods (attach: node needs it on
// every node), and refuses a pod outside it.
func TestPlace(t *testing.T) {
	const agent = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podA.slice/cri-containerd-1.scope"
	c := &Cluster{gateways: map[string][]netip.Addr{}, topo: &clusters.Topology{
		Nodes: []clusters.Node{{Name: "n0"}, {Name: "n1"}},
		Pods:  []clusters.Pod{{Name: "client-0", Node: "n0"}},
	}}
	places := map[string]kubenode.Place{
		"agent-n0": {Cgroup: agent},
		"client-0": {Cgroup: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podB.slice", Gateway: netip.MustParseAddr("10.244.0.1")},
	}
	for i := range c.topo.Nodes {
		if err := c.place(&c.topo.Nodes[i], "agent-n0", places); err != nil {
			t.Fatal(err)
		}
		if got := c.topo.Nodes[i].PodCgroupRoot; got != "/kubepods.slice" {
			t.Errorf("node %s: pod cgroup root %q, want /kubepods.slice", c.topo.Nodes[i].Name, got)
		}
	}
	if p := c.topo.Pods[0]; p.Cgroup != places["client-0"].Cgroup || len(c.gateways["n0"]) != 1 {
		t.Errorf("pod %+v, gateways %v: want its cgroup and gateway", p, c.gateways)
	}
	places["client-0"] = kubenode.Place{Cgroup: "/system.slice/elsewhere"}
	if err := c.place(&c.topo.Nodes[0], "agent-n0", places); err == nil {
		t.Error("a pod outside the node's pod cgroup root was placed, want an error")
	}
}
