package netns

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"

	"github.com/meshbench/meshbench/clusters"
)

// Fixed addressing inside the run's namespaces. The fabric is kind's docker
// network; nothing here is visible from the host's namespace.
var (
	fabricCIDR    = netip.MustParsePrefix("172.18.0.0/16")
	fabricGateway = netip.MustParseAddr("172.18.0.1")
)

const (
	netnsDir      = "/run/netns"
	bridgeName    = "br0"
	podIfName     = "eth0"
	nodeIfName    = "eth0"
	maxPodsOnNode = 253 // .2 to .254 of the node's /24; .1 is the pod gateway
	// systemCgroup is the child of a node's cgroup for processes started on
	// the node itself, so that the node cgroup holds no processes and can
	// enable controllers for its children (cgroup v2 "no internal processes").
	systemCgroup = "system"
)

// runIDSyntax is what a run id may look like; Cleanup relies on it to tell
// the run's names from anyone else's.
const runIDSyntax = `[a-z0-9]{1,16}`

var (
	runIDPattern = regexp.MustCompile(`^` + runIDSyntax + `$`)
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// nsName is the name under /run/netns of one of the run's namespaces.
func nsName(runID, suffix string) string { return "mb-" + runID + "-" + suffix }

// cgroupRoot is the run's cgroup, relative to a hierarchy's base.
func cgroupRoot(runID string) string { return "meshbench-" + runID }

// plan computes the names and addresses of the cluster for spec; it touches
// nothing.
func plan(spec clusters.Spec) (*clusters.Topology, error) {
	if !runIDPattern.MatchString(spec.RunID) {
		return nil, fmt.Errorf("plan cluster: run id %q: want 1 to 16 lowercase letters or digits", spec.RunID)
	}
	if spec.Nodes < 1 {
		return nil, fmt.Errorf("plan cluster: %d nodes: want at least 1", spec.Nodes)
	}
	if limit := 1<<(32-fabricCIDR.Bits()) - 3; spec.Nodes > limit {
		return nil, fmt.Errorf("plan cluster: %d nodes: the fabric %s holds at most %d", spec.Nodes, fabricCIDR, limit)
	}
	nodeCIDRs, err := split24(spec.PodCIDR, spec.Nodes)
	if err != nil {
		return nil, fmt.Errorf("plan cluster: pod cidr: %w", err)
	}
	vips, err := serviceIPs(spec.ServiceCIDR, len(spec.Services))
	if err != nil {
		return nil, fmt.Errorf("plan cluster: service cidr: %w", err)
	}
	for _, o := range []struct {
		a, b         netip.Prefix
		aName, bName string
	}{
		{spec.PodCIDR, spec.ServiceCIDR, "pod cidr", "service cidr"},
		{spec.PodCIDR, fabricCIDR, "pod cidr", "the nodes' network"},
		{spec.ServiceCIDR, fabricCIDR, "service cidr", "the nodes' network"},
	} {
		if o.a.Overlaps(o.b) {
			return nil, fmt.Errorf("plan cluster: %s %s overlaps %s %s", o.aName, o.a, o.bName, o.b)
		}
	}

	t := &clusters.Topology{
		RunID:       spec.RunID,
		Name:        "mb-" + spec.RunID,
		ServiceCIDR: spec.ServiceCIDR,
		FabricNetNS: path.Join(netnsDir, nsName(spec.RunID, "fabric")),

		NamespaceLabels: spec.NamespaceLabels,
	}
	root := cgroupRoot(spec.RunID)
	fabricIP := fabricGateway
	for i := range spec.Nodes {
		fabricIP = fabricIP.Next()
		name := "n" + strconv.Itoa(i)
		t.Nodes = append(t.Nodes, clusters.Node{
			Name:    name,
			IP:      fabricIP,
			PodCIDR: nodeCIDRs[i],
			NetNS:   path.Join(netnsDir, nsName(spec.RunID, name)),
			Cgroup:  path.Join(root, name),
			// Pods and the node's own processes are its children.
			PodCgroupRoot: path.Join(root, name),
		})
	}

	next := make([]netip.Addr, spec.Nodes) // last pod address used per node
	for i, c := range nodeCIDRs {
		next[i] = podGatewayOf(c)
	}
	seen := map[string]bool{}
	for si, s := range spec.Services {
		if !dnsLabel.MatchString(s.Name) {
			return nil, fmt.Errorf("plan cluster: service %q: want a DNS label (lowercase letters, digits, '-')", s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("plan cluster: service %q defined twice", s.Name)
		}
		seen[s.Name] = true
		if err := checkPort(s.Port); err != nil {
			return nil, fmt.Errorf("plan cluster: service %q: port: %w", s.Name, err)
		}
		if err := checkPort(s.TargetPort); err != nil {
			return nil, fmt.Errorf("plan cluster: service %q: target port: %w", s.Name, err)
		}
		svc := clusters.Service{Name: s.Name, Role: s.Role, VIP: vips[si], Port: s.Port, TargetPort: s.TargetPort}
		for k, ni := range s.PodNodes {
			if ni < 0 || ni >= spec.Nodes {
				return nil, fmt.Errorf("plan cluster: service %q pod %d: node index %d out of range [0,%d)", s.Name, k, ni, spec.Nodes)
			}
			ip := next[ni].Next()
			if !nodeCIDRs[ni].Contains(ip) || ip == lastAddr(nodeCIDRs[ni]) {
				return nil, fmt.Errorf("plan cluster: node %s: more than %d pods", t.Nodes[ni].Name, maxPodsOnNode)
			}
			next[ni] = ip
			node := t.Nodes[ni]
			idx := len(t.Pods)
			name := s.Name + "-" + strconv.Itoa(k)
			t.Pods = append(t.Pods, clusters.Pod{
				Name:    name,
				Service: s.Name,
				Node:    node.Name,
				IP:      ip,
				NetNS:   path.Join(netnsDir, nsName(spec.RunID, "p"+strconv.Itoa(idx))),
				Cgroup:  path.Join(node.Cgroup, name),
				Veth:    "veth" + strconv.Itoa(idx),
				PodVeth: podIfName,
				Labels:  s.PodLabels,
			})
			svc.Pods = append(svc.Pods, name)
		}
		t.Services = append(t.Services, svc)
	}
	return t, nil
}

// podGatewayOf is the address every pod of a node routes through: the first
// of the node's pod range, set on each host-side veth as the ptp CNI plugin
// (kindnet) does.
func podGatewayOf(nodeCIDR netip.Prefix) netip.Addr { return nodeCIDR.Addr().Next() }

func checkPort(p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%d out of range [1,65535]", p)
	}
	return nil
}

// split24 returns the first n /24 blocks of p.
func split24(p netip.Prefix, n int) ([]netip.Prefix, error) {
	if !p.IsValid() || !p.Addr().Is4() {
		return nil, fmt.Errorf("%s: want an IPv4 prefix", p)
	}
	if p.Bits() > 24 {
		return nil, fmt.Errorf("%s: want /24 or larger (one /24 per node)", p)
	}
	if avail := 1 << (24 - p.Bits()); n > avail {
		return nil, fmt.Errorf("%s holds %d /24 blocks, %d nodes need one each", p, avail, n)
	}
	base := p.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8
	out := make([]netip.Prefix, n)
	for i := range out {
		v := start + uint32(i)<<8
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24)
	}
	return out, nil
}

// serviceIPs returns n virtual IPs from p, starting after its network address.
func serviceIPs(p netip.Prefix, n int) ([]netip.Addr, error) {
	if !p.IsValid() || !p.Addr().Is4() {
		return nil, fmt.Errorf("%s: want an IPv4 prefix", p)
	}
	if avail := 1<<(32-p.Bits()) - 2; n > avail {
		return nil, fmt.Errorf("%s holds %d service addresses, want %d", p, max(avail, 0), n)
	}
	out := make([]netip.Addr, n)
	a := p.Masked().Addr()
	for i := range out {
		a = a.Next()
		out[i] = a
	}
	return out, nil
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
