package bench

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/results"
)

func TestProbeNamespaces(t *testing.T) {
	topo := func(fabric, podNS string) *clusters.Topology {
		return &clusters.Topology{
			FabricNetNS: fabric,
			Nodes:       []clusters.Node{{Name: "n0", NetNS: "/ns/n0"}, {Name: "n1", NetNS: "/ns/n1"}},
			Pods: []clusters.Pod{
				{Name: "client-0", Node: "n0", NetNS: "/ns/p0"},
				{Name: "svc-000-0", Node: "n1", NetNS: podNS},
				{Name: "svc-000-1", Node: "n0", NetNS: "/ns/p2"},
			},
		}
	}
	tests := []struct {
		name string
		topo *clusters.Topology
		want [][]pathprobe.Namespace
	}{
		{"fabric on the first node", topo("/ns/fabric", "/ns/p1"), [][]pathprobe.Namespace{
			{{Name: "fabric", Path: "/ns/fabric"}, {Name: "node n0", Path: "/ns/n0"},
				{Name: "pod client-0", Path: "/ns/p0", Loopback: true}, {Name: "pod svc-000-1", Path: "/ns/p2", Loopback: true}},
			{{Name: "node n1", Path: "/ns/n1"}, {Name: "pod svc-000-0", Path: "/ns/p1", Loopback: true}},
		}},
		{"no fabric", topo("", "/ns/p1"), [][]pathprobe.Namespace{
			{{Name: "node n0", Path: "/ns/n0"}, {Name: "pod client-0", Path: "/ns/p0", Loopback: true},
				{Name: "pod svc-000-1", Path: "/ns/p2", Loopback: true}},
			{{Name: "node n1", Path: "/ns/n1"}, {Name: "pod svc-000-0", Path: "/ns/p1", Loopback: true}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := probeNamespaces(tt.topo)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("namespaces per node (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a pod without path", func(t *testing.T) {
		_, err := probeNamespaces(topo("/ns/fabric", ""))
		if !errors.Is(err, errNoProbe) {
			t.Errorf("got error %v, want errNoProbe (the probe is skipped)", err)
		}
	})
}

func TestProbeAddresses(t *testing.T) {
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	topo := &clusters.Topology{
		// The services' covering range may hold addresses of others, such
		// as the API server's virtual IP: only the run's own count.
		ServiceCIDR: pfx("10.96.0.0/16"),
		Nodes: []clusters.Node{
			{Name: "n0", IP: addr("172.18.0.2"), PodCIDR: pfx("10.244.0.0/24")},
			// A node without a pod range, with an IPv6 address only.
			{Name: "n1", IP: addr("fd00::3")},
		},
		Services: []clusters.Service{{Name: "svc-000", VIP: addr("10.96.0.10")}},
		Pods: []clusters.Pod{
			{Name: "svc-000-0", Node: "n0", IP: addr("10.244.0.2")},
			{Name: "svc-000-1", Node: "n1", IP: addr("10.245.7.9")},
		},
	}
	// svc-000-0's address is in n0's range, listed already.
	want := []netip.Prefix{pfx("10.244.0.0/24"), pfx("172.18.0.2/32"), pfx("10.96.0.10/32"), pfx("10.245.7.9/32")}
	if diff := cmp.Diff(want, probeAddresses(topo), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("probeAddresses (-want +got):\n%s", diff)
	}
}

func TestRenderTrace(t *testing.T) {
	steps := []pathprobe.Step{
		{Namespace: "pod client-0", Device: "eth0", Event: pathprobe.Event{Type: pathprobe.Transmit, Len: 177}, Actor: "sidecar"},
		{Namespace: "pod client-0", Event: pathprobe.Event{Type: pathprobe.SocketSend, Len: 111}, Actor: "app"},
		{Namespace: "node n0", Device: "veth1", Event: pathprobe.Event{Type: pathprobe.Receive, Len: 163}, Actor: pathprobe.KernelActor},
	}
	want := []string{
		"pod client-0           eth0     transmit        177B sidecar",
		"pod client-0           -        socket_send     111B app",
		"node n0                veth1    receive         163B kernel",
	}
	if diff := cmp.Diff(want, renderTrace(steps)); diff != "" {
		t.Errorf("renderTrace (-want +got):\n%s", diff)
	}
	wantSteps := []results.PathStep{
		{Namespace: "pod client-0", Device: "eth0", Event: "transmit", Bytes: 177, Actor: "sidecar"},
		{Namespace: "pod client-0", Event: "socket_send", Bytes: 111, Actor: "app"},
		{Namespace: "node n0", Device: "veth1", Event: "receive", Bytes: 163, Actor: results.KernelActor},
	}
	if diff := cmp.Diff(wantSteps, pathSteps(steps)); diff != "" {
		t.Errorf("pathSteps (-want +got):\n%s", diff)
	}
}

// Every pod's workload is named app and every datapath component by its
// name, each on the probe agent of its node.
func TestProbeProcesses(t *testing.T) {
	topo := &clusters.Topology{
		Nodes: []clusters.Node{{Name: "n0", Cgroup: "mb/n0"}, {Name: "n1", Cgroup: "mb/n1"}},
		Pods: []clusters.Pod{
			{Name: "client-0", Node: "n0", Cgroup: "mb/n0/client-0"},
			{Name: "svc-000-0", Node: "n1", Cgroup: "mb/n1/svc-000-0"},
		},
	}
	dp := costedDatapath{components: []datapaths.Component{
		{Name: "sidecar", Node: "n0", Cgroup: "mb/n0/client-0/sidecar"},
		{Name: "nodeproxy", Node: "n1", Cgroup: "mb/n1/nodeproxy"},
	}}
	want := [][]pathprobe.Process{
		{{Name: "app", Cgroup: "mb/n0/client-0/" + AppContainer}, {Name: "sidecar", Cgroup: "mb/n0/client-0/sidecar"}},
		{{Name: "app", Cgroup: "mb/n1/svc-000-0/" + AppContainer}, {Name: "nodeproxy", Cgroup: "mb/n1/nodeproxy"}},
	}
	if diff := cmp.Diff(want, probeProcesses(topo, dp)); diff != "" {
		t.Errorf("probeProcesses (-want +got):\n%s", diff)
	}
}
