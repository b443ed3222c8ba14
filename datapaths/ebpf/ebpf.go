package ebpf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/meshbench/meshbench/bpf/redirect"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/internal/mesh"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/scenarios"
)

func init() {
	datapaths.Register(scenarios.EBPF, func(opts scenarios.DatapathOptions) (datapaths.Datapath, error) {
		return &ebpfPath{opts: opts}, nil
	})
}

// ProxyContainer is the node agent's container the node proxy runs in: on
// the netns provider a child of the node's cgroup, a sibling of the pod
// cgroups, since the proxy's programs and the pods' must not nest.
const ProxyContainer = "ebpf-proxy"

// cgroupDirs is what the datapath needs from a cluster beyond
// clusters.Cluster: where a cgroup's v2 directory is, to attach programs.
type cgroupDirs interface {
	CgroupDir(rel string) string
}

type ebpfPath struct {
	opts scenarios.DatapathOptions
	mode redirect.Mode
	// m runs the node proxies; nil with the proxy off.
	m *mesh.Mesh

	mu    sync.Mutex
	nodes []nodeBPF
}

// nodeBPF is one node's loaded datapath.
type nodeBPF struct {
	node string
	bpf  *redirect.Datapath
}

var (
	_ datapaths.Datapath  = (*ebpfPath)(nil)
	_ datapaths.Counted   = (*ebpfPath)(nil)
	_ datapaths.Costed    = (*ebpfPath)(nil)
	_ datapaths.BPFCosted = (*ebpfPath)(nil)
)

// Install returns an error wrapping datapaths.ErrUnsupported, naming the
// missing feature, when the kernel lacks a program type, map type or helper
// the mode needs, or the cluster cannot say where its cgroups are.
func (e *ebpfPath) Install(ctx context.Context, c clusters.Cluster) error {
	e.mode = redirect.ModeProxy
	if e.opts.Proxy == scenarios.ProxyOff {
		e.mode = redirect.ModeNoProxy
	}
	if err := redirect.Supported(e.mode); err != nil {
		return fmt.Errorf("%w: %w", datapaths.ErrUnsupported, err)
	}
	cg, ok := c.(cgroupDirs)
	if !ok {
		return fmt.Errorf("%w: ebpf datapath needs the cluster's cgroup v2 directories, which %T does not provide", datapaths.ErrUnsupported, c)
	}
	if e.mode == redirect.ModeProxy {
		if err := e.startProxies(ctx, c); err != nil {
			return err
		}
	}
	topo := c.Topology()
	services := mesh.ServiceTable(topo)
	for _, node := range topo.Nodes {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("install ebpf datapath: %w", err)
		}
		if err := e.installNode(topo, node, services, cg); err != nil {
			return fmt.Errorf("install ebpf datapath on node %s: %w", node.Name, err)
		}
	}
	return nil
}

// startProxies starts the node proxies as the nodeproxy datapath does, with
// no netfilter steering and no splice.
func (e *ebpfPath) startProxies(ctx context.Context, c clusters.Cluster) error {
	m, err := mesh.New(scenarios.EBPF, e.opts, c)
	e.m = m
	if err != nil {
		return err
	}
	var launches []mesh.Launch
	for _, node := range c.Topology().Nodes {
		args, files, err := nodeproxy.Args(m, node)
		if err != nil {
			return err
		}
		launches = append(launches, mesh.Launch{
			Proxy: mesh.Proxy{Node: node.Name, Container: ProxyContainer},
			Args:  append(args, "-splice=false"),
			Files: files,
		})
	}
	return m.StartAll(ctx, launches)
}

func (e *ebpfPath) installNode(topo *clusters.Topology, node clusters.Node, services []proxy.Service, cg cgroupDirs) error {
	cfg := redirect.Config{Mode: e.mode}
	if e.mode == redirect.ModeProxy {
		cfg.NodeProxy = netip.AddrPortFrom(node.IP, mesh.OutboundPort)
	}
	d, err := redirect.Load(cfg)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.nodes = append(e.nodes, nodeBPF{node: node.Name, bpf: d})
	e.mu.Unlock()

	for _, s := range services {
		if err := d.AddService(netip.AddrPortFrom(s.VIP, s.Port), s.Endpoints); err != nil {
			return err
		}
	}
	pods := topo.PodsOn(node.Name)
	for _, p := range pods {
		if err := d.AttachCgroup(cg.CgroupDir(p.Cgroup)); err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
	}
	if e.mode == redirect.ModeProxy {
		if err := d.AttachProxyCgroup(cg.CgroupDir(node.ContainerCgroup(ProxyContainer))); err != nil {
			return err
		}
	}
	return netns.Do(node.NetNS, func() error { return attachDevices(d, node, pods) })
}

// attachDevices attaches tc to the node's uplink and its pods' host-side
// veths and maps the pods to their veths. It must run in the node's
// namespace: interface indexes are resolved in the calling thread's.
func attachDevices(d *redirect.Datapath, node clusters.Node, pods []clusters.Pod) error {
	uplink, err := interfaceWith(node.IP)
	if err != nil {
		return err
	}
	if err := d.AttachTC(uplink.Index); err != nil {
		return fmt.Errorf("uplink %s: %w", uplink.Name, err)
	}
	for _, p := range pods {
		veth, err := net.InterfaceByName(p.Veth)
		if err != nil {
			return fmt.Errorf("find veth %s of pod %s: %w", p.Veth, p.Name, err)
		}
		if err := d.AddPod(p.IP, veth.Index); err != nil {
			return err
		}
		if err := d.AttachTC(veth.Index); err != nil {
			return fmt.Errorf("veth %s of pod %s: %w", p.Veth, p.Name, err)
		}
	}
	return nil
}

// interfaceWith returns the interface holding ip in the calling thread's
// network namespace.
func interfaceWith(ip netip.Addr) (*net.Interface, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("find the interface with %s: %w", ip, err)
	}
	for _, iface := range ifaces {
		addrs, err := iface.Addrs()
		if err != nil {
			return nil, fmt.Errorf("find the interface with %s: %w", ip, err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if got, ok := netip.AddrFromSlice(n.IP); ok && got.Unmap() == ip {
					return &iface, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("find the interface with %s: no interface has it", ip)
}

// counters sums the BPF counters over nodes.
func (e *ebpfPath) counters() (redirect.Counters, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var sum redirect.Counters
	for _, n := range e.nodes {
		c, err := n.bpf.Counters()
		if err != nil {
			return redirect.Counters{}, fmt.Errorf("node %s: %w", n.node, err)
		}
		sum.Steered += c.Steered
		sum.Balanced += c.Balanced
		sum.Sockets += c.Sockets
		sum.LocalSockets += c.LocalSockets
		sum.Messages += c.Messages
		sum.Bytes += c.Bytes
		sum.PeerRedirected += c.PeerRedirected
		sum.OrigDst += c.OrigDst
	}
	return sum, nil
}

// Verify proves the programs acted on the traffic: with the proxy, connect4
// steered connections, sk_msg redirected messages and the node proxies
// accepted connections; without it, connect4 balanced connections.
func (e *ebpfPath) Verify(ctx context.Context) error {
	c, err := e.counters()
	if err != nil {
		return fmt.Errorf("verify ebpf datapath: %w", err)
	}
	if e.mode == redirect.ModeNoProxy {
		if c.Balanced == 0 {
			return mesh.NotInPath("connect4 balanced %d connections, tc peer-redirected %d packets", c.Balanced, c.PeerRedirected)
		}
		return nil
	}
	stats, err := e.m.Stats(ctx)
	if err != nil {
		return err
	}
	out := mesh.Sum(stats, e.m.Proxies, proxy.StatConnsOutbound, nil)
	if c.Steered == 0 || c.Messages == 0 || out == 0 {
		return mesh.NotInPath("connect4 steered %d connections, sk_msg redirected %d messages, node proxies accepted %d connections",
			c.Steered, c.Messages, out)
	}
	return nil
}

// PathCounters reports the eBPF redirects: sk_msg messages handed socket to
// socket and packets delivered with bpf_redirect_peer. The datapath has no
// netfilter rules.
func (e *ebpfPath) PathCounters(context.Context) (datapaths.PathCounters, error) {
	c, err := e.counters()
	if err != nil {
		return datapaths.PathCounters{}, fmt.Errorf("read ebpf datapath counters: %w", err)
	}
	return datapaths.PathCounters{Redirects: c.Messages + c.PeerRedirected}, nil
}

// Components lists the node proxies' cgroups; none with the proxy off.
func (e *ebpfPath) Components() []datapaths.Component {
	if e.m == nil {
		return nil
	}
	return e.m.Components()
}

// BPFMemoryBytes returns each node's BPF maps and programs, in bytes.
func (e *ebpfPath) BPFMemoryBytes() (map[string]uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]uint64, len(e.nodes))
	for _, n := range e.nodes {
		b, err := n.bpf.MemoryBytes()
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.node, err)
		}
		out[n.node] = b
	}
	return out, nil
}

// Uninstall detaches and frees every node's programs and maps, then stops
// the proxies and removes their state.
func (e *ebpfPath) Uninstall(ctx context.Context) error {
	e.mu.Lock()
	nodes := e.nodes
	e.nodes = nil
	e.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		if err := n.bpf.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.node, err))
		}
	}
	errs = append(errs, e.m.Uninstall(ctx))
	return errors.Join(errs...)
}
