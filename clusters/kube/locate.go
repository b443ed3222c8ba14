package kube

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
	"github.com/meshbench/meshbench/internal/agentctl"
)

// locate asks the node agent of every node where the run's pods on it,
// and the agent itself, live, and fills the topology's namespace and
// cgroup paths.
func (c *Cluster) locate(ctx context.Context, running map[string]*corev1.Pod) error {
	c.gateways = map[string][]netip.Addr{}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := range c.topo.Nodes {
		node := &c.topo.Nodes[i]
		var ask []kubenode.Pod
		for _, p := range c.topo.PodsOn(node.Name) {
			ask = append(ask, inspectSpec(running[p.Name], clusters.AppContainer))
		}
		self := inspectSpec(running[c.nodeAgents[node.Name]], NodeAgentContainer)
		ask = append(ask, self)
		wg.Go(func() {
			places, err := c.inspect(ctx, node.Name, ask)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("locate pods on node %s: %w", node.Name, err))
				return
			}
			if err := c.place(node, self.Name, places); err != nil {
				errs = append(errs, fmt.Errorf("locate pods on node %s: %w", node.Name, err))
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// place fills node and the run's pods on it from where the inspect role
// found them; self names the node agent's pod.
func (c *Cluster) place(node *clusters.Node, self string, places map[string]kubenode.Place) error {
	np := places[self]
	node.NetNS, node.Cgroup, node.Containers = np.NetNS, np.Cgroup, np.Containers
	// The node agent is a pod of the node too: its cgroup gives the pod
	// cgroup root on every node, with or without the run's pods.
	node.PodCgroupRoot = kubenode.PodCgroupRoot(np.Cgroup)
	for j := range c.topo.Pods {
		tp := &c.topo.Pods[j]
		pl, ok := places[tp.Name]
		if !ok || tp.Node != node.Name {
			continue
		}
		if err := c.placePod(node, tp, pl); err != nil {
			return err
		}
	}
	return nil
}

// placePod fills pod tp of node from where the inspect role found it.
func (c *Cluster) placePod(node *clusters.Node, tp *clusters.Pod, pl kubenode.Place) error {
	tp.NetNS, tp.Cgroup, tp.Containers, tp.Veth, tp.PodVeth = pl.NetNS, pl.Cgroup, pl.Containers, pl.Veth, "eth0"
	if node.PodCgroupRoot != "" && !strings.HasPrefix(pl.Cgroup, node.PodCgroupRoot+"/") {
		return fmt.Errorf("pod %s's cgroup %s is not below the node's pod cgroup root %s", tp.Name, pl.Cgroup, node.PodCgroupRoot)
	}
	if pl.Gateway.IsValid() {
		c.gateways[node.Name] = append(c.gateways[node.Name], pl.Gateway)
	}
	return nil
}

// inspectSpec names a pod and its containers' runtime IDs for the inspect
// role.
func inspectSpec(pod *corev1.Pod, main string) kubenode.Pod {
	ip := kubenode.Pod{Name: pod.Name, UID: string(pod.UID), Main: main, Containers: map[string]string{}}
	for _, cs := range pod.Status.ContainerStatuses {
		// "containerd://ID", "cri-o://ID", "docker://ID"
		_, id, _ := strings.Cut(cs.ContainerID, "://")
		ip.Containers[cs.Name] = id
	}
	return ip
}

// inspect runs the inspect role in the node agent of node.
func (c *Cluster) inspect(ctx context.Context, node string, pods []kubenode.Pod) (map[string]kubenode.Place, error) {
	a, err := agentctl.Start(ctx, c, clusters.ProcSpec{
		Target: clusters.Target{Node: node}, Name: "pod locator on node " + node, Args: kubenode.InspectOptions{}.Args(),
	})
	if err != nil {
		return nil, err
	}
	defer a.Stop()
	return kubenode.InspectClient{Caller: a}.Inspect(ctx, pods)
}

// fillRanges sets what the Kubernetes API may not say: the service range
// as the smallest prefix holding the run's service IPs, and a node's pod
// range, where the node has none in its spec, as the smallest prefix
// holding the run's pods on it and their gateways (the node's own address
// on the pod network), again as pods are added. Either must hold no pod of
// another node.
func (c *Cluster) fillRanges() error {
	var vips []netip.Addr
	for _, s := range c.topo.Services {
		vips = append(vips, s.VIP)
	}
	c.topo.ServiceCIDR = covering(vips)
	for i := range c.topo.Nodes {
		n := &c.topo.Nodes[i]
		if n.PodCIDR.IsValid() && !c.derived[n.Name] {
			continue
		}
		var ips []netip.Addr
		for _, p := range c.topo.PodsOn(n.Name) {
			ips = append(ips, p.IP)
		}
		if len(ips) > 0 {
			n.PodCIDR = covering(append(ips, c.gateways[n.Name]...))
			if c.derived == nil {
				c.derived = map[string]bool{}
			}
			c.derived[n.Name] = true
		}
	}
	for _, p := range c.topo.Pods {
		if c.topo.ServiceCIDR.Contains(p.IP) {
			return fmt.Errorf("pod %s has IP %s inside the services' range %s: meshbench cannot tell service and pod addresses apart", p.Name, p.IP, c.topo.ServiceCIDR)
		}
		for _, n := range c.topo.Nodes {
			if n.Name != p.Node && n.PodCIDR.Contains(p.IP) {
				return fmt.Errorf("pod %s on node %s has IP %s inside node %s's pod range %s: give the nodes disjoint spec.podCIDR ranges", p.Name, p.Node, p.IP, n.Name, n.PodCIDR)
			}
		}
	}
	return nil
}

// covering returns the longest prefix holding every address (all of one
// family); an invalid prefix for none.
func covering(addrs []netip.Addr) netip.Prefix {
	if len(addrs) == 0 {
		return netip.Prefix{}
	}
	first := addrs[0]
	bits := first.BitLen()
	for _, a := range addrs[1:] {
		for bits > 0 {
			p, _ := first.Prefix(bits)
			if p.Contains(a) {
				break
			}
			bits--
		}
	}
	p, _ := first.Prefix(bits)
	return p
}
