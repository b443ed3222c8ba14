package netns

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshbench/meshbench/clusters"
)

// netipEqual compares netip values, whose fields cmp cannot see.
var netipEqual = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func TestPlan(t *testing.T) {
	topo, err := plan(smallSpec("abc123"))
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	ip := netip.MustParseAddr
	wantNodes := []clusters.Node{
		{Name: "n0", IP: ip("172.18.0.2"), PodCIDR: netip.MustParsePrefix("10.244.0.0/24"), NetNS: "/run/netns/mb-abc123-n0", Cgroup: "meshbench-abc123/n0", PodCgroupRoot: "meshbench-abc123/n0"},
		{Name: "n1", IP: ip("172.18.0.3"), PodCIDR: netip.MustParsePrefix("10.244.1.0/24"), NetNS: "/run/netns/mb-abc123-n1", Cgroup: "meshbench-abc123/n1", PodCgroupRoot: "meshbench-abc123/n1"},
		{Name: "n2", IP: ip("172.18.0.4"), PodCIDR: netip.MustParsePrefix("10.244.2.0/24"), NetNS: "/run/netns/mb-abc123-n2", Cgroup: "meshbench-abc123/n2", PodCgroupRoot: "meshbench-abc123/n2"},
	}
	if diff := cmp.Diff(wantNodes, topo.Nodes, netipEqual); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	pod := func(name, svc, node, addr string, k int) clusters.Pod {
		return clusters.Pod{
			Name: name, Service: svc, Node: node, IP: ip(addr),
			NetNS:  "/run/netns/mb-abc123-p" + string(rune('0'+k)),
			Cgroup: "meshbench-abc123/" + node + "/" + name,
			Veth:   "veth" + string(rune('0'+k)), PodVeth: "eth0",
		}
	}
	wantPods := []clusters.Pod{
		pod("client-0", "client", "n0", "10.244.0.2", 0),
		pod("server-0", "server", "n0", "10.244.0.3", 1),
		pod("server-1", "server", "n1", "10.244.1.2", 2),
		pod("server-2", "server", "n2", "10.244.2.2", 3),
		pod("other-0", "other", "n1", "10.244.1.3", 4),
		pod("other-1", "other", "n1", "10.244.1.4", 5),
	}
	if diff := cmp.Diff(wantPods, topo.Pods, netipEqual); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
	wantServices := []clusters.Service{
		{Name: "client", Role: "client", VIP: ip("10.96.0.1"), Port: 80, TargetPort: 8080, Pods: []string{"client-0"}},
		{Name: "server", Role: "server", VIP: ip("10.96.0.2"), Port: 80, TargetPort: 8080, Pods: []string{"server-0", "server-1", "server-2"}},
		{Name: "other", VIP: ip("10.96.0.3"), Port: 9000, TargetPort: 9090, Pods: []string{"other-0", "other-1"}},
	}
	if diff := cmp.Diff(wantServices, topo.Services, netipEqual); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*clusters.Spec)
		want string
	}{
		{"empty run id", func(s *clusters.Spec) { s.RunID = "" }, "run id"},
		{"run id with dash", func(s *clusters.Spec) { s.RunID = "a-b" }, "run id"},
		{"no nodes", func(s *clusters.Spec) { s.Nodes = 0 }, "at least 1"},
		{"ipv6 pod cidr", func(s *clusters.Spec) { s.PodCIDR = netip.MustParsePrefix("fd00::/48") }, "IPv4"},
		{"pod cidr too small for a node", func(s *clusters.Spec) { s.PodCIDR = netip.MustParsePrefix("10.244.0.0/25") }, "/24 or larger"},
		{"pod cidr too small for nodes", func(s *clusters.Spec) { s.PodCIDR = netip.MustParsePrefix("10.244.0.0/23") }, "3 nodes"},
		{"service cidr too small", func(s *clusters.Spec) { s.ServiceCIDR = netip.MustParsePrefix("10.96.0.0/31") }, "service addresses"},
		{"pod and service cidrs overlap", func(s *clusters.Spec) { s.ServiceCIDR = netip.MustParsePrefix("10.244.128.0/24") }, "overlaps service cidr"},
		{"pod cidr on the fabric", func(s *clusters.Spec) { s.PodCIDR = netip.MustParsePrefix("172.18.0.0/20") }, "overlaps the nodes' network"},
		{"duplicate service", func(s *clusters.Spec) { s.Services[2].Name = "server" }, "defined twice"},
		{"bad service name", func(s *clusters.Spec) { s.Services[0].Name = "Client_1" }, "DNS label"},
		{"port 0", func(s *clusters.Spec) { s.Services[0].Port = 0 }, "port: 0 out of range"},
		{"target port too big", func(s *clusters.Spec) { s.Services[0].TargetPort = 70000 }, "target port"},
		{"node out of range", func(s *clusters.Spec) { s.Services[1].PodNodes = []int{3} }, "node index 3"},
		{"too many pods on a node", func(s *clusters.Spec) { s.Services[1].PodNodes = make([]int, 253) }, "more than 253 pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := smallSpec("abc")
			spec.Services = append([]clusters.ServiceSpec{}, spec.Services...)
			tt.edit(&spec)
			_, err := plan(spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("plan = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPlanFillsNode(t *testing.T) {
	spec := smallSpec("abc")
	spec.Services = []clusters.ServiceSpec{{Name: "big", Port: 1, TargetPort: 1, PodNodes: make([]int, maxPodsOnNode)}}
	topo, err := plan(spec)
	if err != nil {
		t.Fatalf("plan with %d pods on a node: %v", maxPodsOnNode, err)
	}
	if got, want := topo.Pods[len(topo.Pods)-1].IP, netip.MustParseAddr("10.244.0.254"); got != want {
		t.Errorf("last pod IP %s, want %s", got, want)
	}
}

func TestServiceKey(t *testing.T) {
	got := serviceKeyOf(netip.MustParseAddr("10.96.0.2"), 8080)
	want := []byte{10, 96, 0, 2, 6, 0, 0, 0, 0x1f, 0x90, 0, 0}
	if !cmp.Equal(got, want) {
		t.Errorf("serviceKeyOf = %v, want %v", got, want)
	}
}
