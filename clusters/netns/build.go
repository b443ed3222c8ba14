package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
)

// podWorkers bounds how many pods are plumbed at once. Most of the work
// waits on the kernel (namespace setup, the RTNL lock), so a few more
// workers than cores keep both cores busy.
const podWorkers = 6

// builder holds the open handles of a cluster under construction.
type builder struct {
	topo   *clusters.Topology
	cg     *runCgroups
	fabric *netlink.Handle
	bridge int // ifindex of the fabric bridge
	nodes  []nodeHandles
	nodeOf map[string]int // node name -> index
}

type nodeHandles struct {
	fd vnetns.NsHandle
	h  *netlink.Handle
}

// build brings the cluster up in stages; on error the caller tears down.
func build(ctx context.Context, topo *clusters.Topology, cg *runCgroups) error {
	if err := shareNetnsDir(); err != nil {
		return err
	}
	b := &builder{topo: topo, cg: cg, nodeOf: map[string]int{}}
	defer b.close()
	for i, n := range topo.Nodes {
		b.nodeOf[n.Name] = i
	}
	stages := []struct {
		name string
		run  func(context.Context) error
	}{
		{"create run cgroup", b.runCgroup},
		{"create fabric", b.createFabric},
		{"create nodes", b.createNodes},
		{"create pods", b.createPods},
		{"program services", b.programServices},
	}
	for _, s := range stages {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func (b *builder) close() {
	if b.fabric != nil {
		b.fabric.Close()
	}
	for _, n := range b.nodes {
		n.h.Close()
		n.fd.Close()
	}
}

func (b *builder) runCgroup(context.Context) error {
	root := cgroupRoot(b.topo.RunID)
	if err := b.cg.mkdir(root); err != nil {
		return err
	}
	return b.cg.delegateMemory(root)
}

// inNewNamespace creates a named namespace on a locked thread and opens a
// netlink handle inside it; the thread is back home when it returns.
func inNewNamespace(t *thread, name string, sysctls []sysctl) (vnetns.NsHandle, *netlink.Handle, error) {
	fd, err := t.newNamespace(name, sysctls)
	var h *netlink.Handle
	if err == nil {
		// A handle made on this thread now lives in the new namespace.
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			fd.Close()
			err = fmt.Errorf("open netlink in %s: %w", name, err)
		}
	}
	if rerr := t.restore(); rerr != nil && err == nil {
		h.Close()
		fd.Close()
		err = rerr
	}
	if err != nil {
		return vnetns.None(), nil, err
	}
	if err := h.LinkSetUp(loopback); err != nil {
		h.Close()
		fd.Close()
		return vnetns.None(), nil, fmt.Errorf("set lo up in %s: %w", name, err)
	}
	return fd, h, nil
}

// loopback is lo, always ifindex 1 in a network namespace.
var loopback = &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}

// createFabric makes the fabric namespace and its bridge, kind's docker
// network.
func (b *builder) createFabric(context.Context) error {
	err := onThread(func(t *thread) error {
		fd, h, err := inNewNamespace(t, nsName(b.topo.RunID, "fabric"), noIPv6)
		if err != nil {
			return err
		}
		fd.Close()
		b.fabric = h
		return nil
	})
	if err != nil {
		return err
	}
	h := b.fabric
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName, Flags: net.FlagUp}}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge: %w", err)
	}
	b.bridge = br.Index
	if err := h.AddrAdd(br, addr(fabricGateway, fabricCIDR.Bits())); err != nil {
		return fmt.Errorf("address bridge: %w", err)
	}
	return nil
}

// createNodes makes each node namespace, joined to the fabric bridge by a
// veth, routing every other node's pod range through that node.
func (b *builder) createNodes(ctx context.Context) error {
	return onThread(func(t *thread) error { return b.createNodesOn(ctx, t) })
}

func (b *builder) createNodesOn(ctx context.Context, t *thread) error {
	for _, n := range b.topo.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.cg.mkdir(n.Cgroup); err != nil {
			return err
		}
		if err := b.cg.delegateMemory(n.Cgroup); err != nil {
			return err
		}
		if err := b.cg.mkdir(n.Cgroup + "/" + systemCgroup); err != nil {
			return err
		}
		fd, h, err := inNewNamespace(t, filepath.Base(n.NetNS), nodeSysctls)
		if err != nil {
			return err
		}
		b.nodes = append(b.nodes, nodeHandles{fd: fd, h: h})
		if err := b.plumbNode(n, fd, h); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}

func (b *builder) plumbNode(n clusters.Node, fd vnetns.NsHandle, h *netlink.Handle) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "veth-" + n.Name, Flags: net.FlagUp, MasterIndex: b.bridge},
		PeerName:      nodeIfName,
		PeerNamespace: netlink.NsFd(fd),
	}
	if err := b.fabric.LinkAdd(veth); err != nil {
		return fmt.Errorf("add fabric veth: %w", err)
	}
	eth0, err := h.LinkByName(nodeIfName)
	if err != nil {
		return fmt.Errorf("find %s: %w", nodeIfName, err)
	}
	if err := h.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("set %s up: %w", nodeIfName, err)
	}
	if err := h.AddrAdd(eth0, addr(n.IP, fabricCIDR.Bits())); err != nil {
		return fmt.Errorf("address %s: %w", nodeIfName, err)
	}
	idx := eth0.Attrs().Index
	if err := h.RouteAdd(&netlink.Route{LinkIndex: idx, Gw: fabricGateway.AsSlice()}); err != nil {
		return fmt.Errorf("add default route: %w", err)
	}
	for _, other := range b.topo.Nodes {
		if other.Name == n.Name {
			continue
		}
		r := &netlink.Route{LinkIndex: idx, Dst: ipNet(other.PodCIDR), Gw: other.IP.AsSlice()}
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("add route to %s via %s: %w", other.PodCIDR, other.IP, err)
		}
	}
	return nil
}

// createPods plumbs the pods on a bounded pool of locked threads.
func (b *builder) createPods(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan int)
	g.Go(func() error {
		defer close(jobs)
		for i := range b.topo.Pods {
			select {
			case jobs <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range min(podWorkers, len(b.topo.Pods)) {
		g.Go(func() error {
			return onThread(func(t *thread) error { return b.podWorker(gctx, t, jobs) })
		})
	}
	return g.Wait()
}

func (b *builder) podWorker(ctx context.Context, t *thread, jobs <-chan int) error {
	for i := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.createPod(t, b.topo.Pods[i]); err != nil {
			return fmt.Errorf("pod %s: %w", b.topo.Pods[i].Name, err)
		}
	}
	return nil
}

// createPod makes a pod namespace joined to its node by a veth pair, ptp
// style: the pod has its IP/32 and a default route to the gateway address
// that every host-side veth of the node carries; the node has a /32 route
// to the pod through the host-side veth.
func (b *builder) createPod(t *thread, p clusters.Pod) error {
	ni := b.nodeOf[p.Node]
	node, nh := b.topo.Nodes[ni], b.nodes[ni].h
	if err := b.cg.mkdir(p.Cgroup); err != nil {
		return err
	}
	fd, ph, err := inNewNamespace(t, filepath.Base(p.NetNS), noIPv6)
	if err != nil {
		return err
	}
	defer fd.Close()
	defer ph.Close()

	gw := podGatewayOf(node.PodCIDR)
	host := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: p.Veth, Flags: net.FlagUp},
		PeerName:      p.PodVeth,
		PeerNamespace: netlink.NsFd(fd),
	}
	if err := nh.LinkAdd(host); err != nil {
		return fmt.Errorf("add veth %s: %w", p.Veth, err)
	}
	if err := nh.AddrAdd(host, addr(gw, 32)); err != nil {
		return fmt.Errorf("address %s: %w", p.Veth, err)
	}
	toPod := &netlink.Route{LinkIndex: host.Index, Dst: ipNet(netip.PrefixFrom(p.IP, 32)), Scope: netlink.SCOPE_LINK}
	if err := nh.RouteAdd(toPod); err != nil {
		return fmt.Errorf("add route to %s: %w", p.IP, err)
	}

	eth0, err := ph.LinkByName(p.PodVeth)
	if err != nil {
		return fmt.Errorf("find %s: %w", p.PodVeth, err)
	}
	if err := ph.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("set %s up: %w", p.PodVeth, err)
	}
	if err := ph.AddrAdd(eth0, addr(p.IP, 32)); err != nil {
		return fmt.Errorf("address %s: %w", p.PodVeth, err)
	}
	def := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}
	if err := ph.RouteAdd(def); err != nil {
		return fmt.Errorf("add default route: %w", err)
	}
	return nil
}

func (b *builder) programServices(ctx context.Context) error {
	for i, n := range b.nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := programServices(int(n.fd), nftTable(b.topo.RunID), b.topo); err != nil {
			return fmt.Errorf("node %s: %w", b.topo.Nodes[i].Name, err)
		}
	}
	return nil
}

// nftTable names the run's nftables table in each node namespace.
func nftTable(runID string) string { return "meshbench-" + runID }

func addr(a netip.Addr, bits int) *netlink.Addr {
	return &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, bits))}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
