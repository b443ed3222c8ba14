package ebpf

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/bpf/redirect"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/scenarios"
)

// What agentOptions.Args renders parses back to the same options.
func TestAgentOptionsArgsRoundTrip(t *testing.T) {
	for _, o := range []agentOptions{
		{Mode: redirect.ModeNoProxy.String(), NodeIP: netip.MustParseAddr("172.18.0.2")},
		{
			Mode: redirect.ModeProxy.String(), NodeIP: netip.MustParseAddr("172.18.0.2"),
			NodeProxy: netip.MustParseAddrPort("172.18.0.2:15001"), ProxyCgroup: "mb/n0/ebpf-proxy",
			Services: []proxy.Service{{Name: "svc-000", VIP: netip.MustParseAddr("10.96.0.1"), Port: 80,
				Endpoints: []netip.AddrPort{netip.MustParseAddrPort("10.244.1.2:8080")}}},
			Pods: []podConfig{{Name: "client-0", IP: netip.MustParseAddr("10.244.0.2"), NetNS: "/run/netns/p", Cgroup: "mb/n0/client-0", Iface: "eth0"}},
		},
	} {
		args := o.Args()
		if args[0] != "agent" || args[1] != Role {
			t.Fatalf("Args() = %q, want \"agent\" %q first", args, Role)
		}
		got, err := parseAgentOptions(args[2:], io.Discard)
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Errorf("parse(%q) = %+v, %v; want %+v", args, got, err, o)
		}
	}
}

// TestNodeConfigAttach checks what each attachment hands the node agent:
// per pod, the pods the injection labels admit; at the node, its pod
// cgroup root and no pods, which the agent finds itself.
func TestNodeConfigAttach(t *testing.T) {
	topo := &clusters.Topology{
		Nodes: []clusters.Node{{Name: "n0", Cgroup: "mb/n0", PodCgroupRoot: "mb/n0"}},
		Services: []clusters.Service{
			{Name: "client", Role: "client", TargetPort: 8080},
			{Name: "svc-000", Role: "server", TargetPort: 8080},
		},
		Pods: []clusters.Pod{
			{Name: "client-0", Service: "client", Node: "n0", Veth: "veth0"},
			{Name: "mislabelled-0", Service: "client", Node: "n0", Veth: "veth1", Labels: map[string]string{clusters.InjectLabel: "false"}},
		},
	}
	perPod := (&ebpfPath{opts: scenarios.DatapathOptions{Proxy: scenarios.ProxyOff}}).nodeConfig(topo, topo.Nodes[0], nil)
	if len(perPod.Pods) != 1 || perPod.Pods[0].Name != "client-0" || perPod.NodeCgroup != "" {
		t.Errorf("per pod: pods %+v, node cgroup %q; want client-0 only and none", perPod.Pods, perPod.NodeCgroup)
	}
	node := (&ebpfPath{opts: scenarios.DatapathOptions{Proxy: scenarios.ProxyOn, MTLS: true, Attach: scenarios.AttachNode}}).nodeConfig(topo, topo.Nodes[0], nil)
	if len(node.Pods) != 0 || node.NodeCgroup != "mb/n0" || node.NodeStrictPort != 8080 {
		t.Errorf("at the node: pods %+v, node cgroup %q, strict port %d; want none, mb/n0, 8080", node.Pods, node.NodeCgroup, node.NodeStrictPort)
	}
}

// topoCluster is a cluster that only has a topology: Start must not be
// reached.
type topoCluster struct {
	clusters.Cluster
	topo *clusters.Topology
}

func (c topoCluster) Topology() *clusters.Topology { return c.topo }

// TestAttachNodeReach checks, before anything starts, that attaching at
// the node needs every node's pod cgroup root (a kubelet on cgroup v1 only
// has none: unsupported, not a wrong figure), and that what the hooks reach
// names node processes only where the pod root is the node's own cgroup.
func TestAttachNodeReach(t *testing.T) {
	node := scenarios.DatapathOptions{Proxy: scenarios.ProxyOff, Attach: scenarios.AttachNode}
	v1 := topoCluster{topo: &clusters.Topology{Nodes: []clusters.Node{
		{Name: "n0", Cgroup: "kubepods/besteffort/pod1/c", PodCgroupRoot: "kubepods"},
		{Name: "n1", Cgroup: "/"},
	}}}
	e := &ebpfPath{opts: node}
	if err := e.Install(t.Context(), v1); !errors.Is(err, datapaths.ErrUnsupported) || !strings.Contains(err.Error(), "node n1") || !strings.Contains(err.Error(), "cgroup v1") {
		t.Errorf("Install without n1's pod cgroup root = %v, want ErrUnsupported naming n1 and cgroup v1", err)
	}
	for _, tt := range []struct {
		node    clusters.Node
		process bool // the reach includes the node's own processes
	}{
		{clusters.Node{Name: "n0", Cgroup: "mb/n0", PodCgroupRoot: "mb/n0"}, true},
		{clusters.Node{Name: "n0", Cgroup: "kubepods/besteffort/pod1/c", PodCgroupRoot: "kubepods"}, false},
	} {
		e := &ebpfPath{opts: node}
		// No services, no pods: the agents fail to start on this fake,
		// after the reach is known.
		_ = e.Install(t.Context(), failingStart{topoCluster{topo: &clusters.Topology{Nodes: []clusters.Node{tt.node}}}})
		if got := strings.Contains(e.Reach(), "holds its pods and its own processes"); got != tt.process {
			t.Errorf("pod root %q of node cgroup %q: reach %q, want node processes included %t", tt.node.PodCgroupRoot, tt.node.Cgroup, e.Reach(), tt.process)
		}
	}
}

// failingStart fails every Start.
type failingStart struct{ topoCluster }

func (failingStart) Start(context.Context, clusters.ProcSpec) (clusters.Process, error) {
	return nil, errors.New("no processes here")
}
