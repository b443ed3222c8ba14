package netns

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
)

var _ clusters.Roller = (*Cluster)(nil)

// SetNamespaceLabel labels the pods' namespace; pods added from then on
// are injected as it says.
func (c *Cluster) SetNamespaceLabel(_ context.Context, key, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topo.NamespaceLabels = clusters.WithLabel(c.topo.NamespaceLabels, key, value)
	return nil
}

// AddPod plumbs a new pod of old's service on old's node, as Create plumbs
// every pod (its own namespace, veth, /32 routes and cgroup, and the next
// free address of the node's range), then runs the injected init
// containers in it if the injector reaches it. Its names carry the next
// pod number, so that cleanup finds it by the run's names as it finds the
// others.
func (c *Cluster) AddPod(ctx context.Context, old string) (clusters.Pod, error) {
	c.mu.Lock()
	pod, err := c.planPod(old)
	if err == nil {
		c.topo.Pods = append(c.topo.Pods, pod)
	}
	c.mu.Unlock()
	if err != nil {
		return clusters.Pod{}, fmt.Errorf("add pod beside %s: %w", old, err)
	}
	if err := c.plumbPod(pod); err != nil {
		return clusters.Pod{}, fmt.Errorf("add pod %s: %w", pod.Name, err)
	}
	if err := c.runInits(ctx, c.inject, []clusters.Pod{pod}); err != nil {
		return clusters.Pod{}, fmt.Errorf("add pod %s: %w", pod.Name, err)
	}
	return pod, nil
}

// planPod names and addresses the pod that replaces old; c.mu is held.
func (c *Cluster) planPod(old string) (clusters.Pod, error) {
	if c.deleted {
		return clusters.Pod{}, fmt.Errorf("cluster %s is deleted", c.topo.Name)
	}
	o, ok := c.topo.Pod(old)
	if !ok {
		return clusters.Pod{}, fmt.Errorf("no pod %q", old)
	}
	node, _ := c.topo.Node(o.Node)
	ip := podGatewayOf(node.PodCIDR)
	for _, p := range c.topo.PodsOn(node.Name) {
		if p.IP.Compare(ip) > 0 {
			ip = p.IP
		}
	}
	ip = ip.Next()
	if !node.PodCIDR.Contains(ip) || ip == lastAddr(node.PodCIDR) {
		return clusters.Pod{}, fmt.Errorf("node %s has no address left for another pod", node.Name)
	}
	idx := c.nextPod
	c.nextPod++
	name := o.Service + "-" + strconv.Itoa(idx)
	return clusters.Pod{
		Name:    name,
		Service: o.Service,
		Node:    node.Name,
		IP:      ip,
		NetNS:   path.Join(netnsDir, nsName(c.topo.RunID, "p"+strconv.Itoa(idx))),
		Cgroup:  path.Join(node.Cgroup, name),
		Veth:    "veth" + strconv.Itoa(idx),
		PodVeth: podIfName,
		Labels:  o.Labels,
	}, nil
}

// plumbPod creates pod's namespace, veth, routes and cgroup in its node.
func (c *Cluster) plumbPod(pod clusters.Pod) error {
	ni := slices.IndexFunc(c.topo.Nodes, func(n clusters.Node) bool { return n.Name == pod.Node })
	fd, err := vnetns.GetFromPath(c.topo.Nodes[ni].NetNS)
	if err != nil {
		return fmt.Errorf("open node %s namespace: %w", pod.Node, err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		return fmt.Errorf("open netlink in node %s: %w", pod.Node, err)
	}
	defer h.Close()
	b := &builder{topo: c.topo, cg: c.cg, nodes: make([]nodeHandles, len(c.topo.Nodes)), nodeOf: map[string]int{pod.Node: ni}}
	b.nodes[ni] = nodeHandles{fd: fd, h: h}
	return onThread(func(t *thread) error { return b.createPod(t, pod) })
}

// SwitchEndpoint rewrites, in every node's service table, the endpoint
// chain of pod from to DNAT to pod to instead. Conntrack keeps the
// connections already open on the address they had.
func (c *Cluster) SwitchEndpoint(_ context.Context, from, to string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.topo.Pod(to)
	if !ok {
		return fmt.Errorf("switch endpoint to %s: no such pod", to)
	}
	k := slices.IndexFunc(c.topo.Services, func(s clusters.Service) bool { return s.Name == p.Service })
	svc := &c.topo.Services[k]
	j := slices.Index(svc.Pods, from)
	if j < 0 {
		return fmt.Errorf("switch endpoint of service %s: pod %s is not one of its endpoints", svc.Name, from)
	}
	for _, n := range c.topo.Nodes {
		if err := switchEndpoint(n.NetNS, nftTable(c.topo.RunID), k, j, p, svc.TargetPort); err != nil {
			return fmt.Errorf("switch endpoint of service %s on node %s to pod %s: %w", svc.Name, n.Name, to, err)
		}
	}
	pods := slices.Clone(svc.Pods)
	pods[j] = to
	svc.Pods = pods
	return nil
}

// switchEndpoint replaces the rule of endpoint chain ep-K-J (see
// programServices) in one node's namespace, in one batch.
func switchEndpoint(nsPath, table string, k, j int, to clusters.Pod, port int) error {
	fd, err := vnetns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open namespace: %w", err)
	}
	defer fd.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(fd)))
	if err != nil {
		return fmt.Errorf("open nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: table}
	ep := &nftables.Chain{Table: t, Name: "ep-" + strconv.Itoa(k) + "-" + strconv.Itoa(j)}
	conn.FlushChain(ep)
	conn.AddRule(&nftables.Rule{Table: t, Chain: ep, Exprs: dnat(to.IP, port)})
	return conn.Flush()
}

// DeletePod kills what runs in the pod, deletes its namespace (and with it
// its veth and the node's route to it) and its cgroups, and drops it from
// the topology. The pod must be no endpoint of its service any more.
func (c *Cluster) DeletePod(ctx context.Context, name string) error {
	c.mu.Lock()
	p, err := c.topo.RetiredPod(name)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	var dirs []string
	for _, b := range c.cg.bases() {
		dirs = append(dirs, filepath.Join(b, p.Cgroup))
	}
	inodes := map[uint64]bool{}
	var st unix.Stat_t
	if unix.Stat(p.NetNS, &st) == nil {
		inodes[st.Ino] = true
	}
	errs := []error{killAll(ctx, dirs, inodes)}
	errs = append(errs, deleteNamespace(filepath.Base(p.NetNS)), removeCgroups(ctx, dirs))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete pod %s: %w", name, err)
	}
	c.mu.Lock()
	c.topo.Pods = slices.DeleteFunc(slices.Clone(c.topo.Pods), func(q clusters.Pod) bool { return q.Name == name })
	c.mu.Unlock()
	return nil
}

// InjectPod runs join, then the injected init containers, in the running
// pod name (a netns pod's containers share the pod's namespace: the
// sidecar needs no container of its own to run in).
func (c *Cluster) InjectPod(ctx context.Context, name string, join func(context.Context) error) error {
	c.mu.Lock()
	p, ok := c.topo.Pod(name)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("inject into pod %s: no such pod", name)
	}
	if err := join(ctx); err != nil {
		return err
	}
	if err := c.runInits(ctx, c.inject, []clusters.Pod{p}); err != nil {
		return fmt.Errorf("inject into pod %s: %w", name, err)
	}
	return nil
}
