package ebpf

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/meshbench/meshbench/bpf/redirect"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/internal/mesh"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/scenarios"
)

// Name is the datapath's name in scenarios.
const Name = "ebpf"

// Kind is the datapath for a registry: it runs node proxies, and can balance
// sockets without them (proxy off).
var Kind = datapaths.Kind{Datapath: scenarios.Datapath{Name: Name, Proxy: true, ProxyOptional: true, NodeAttach: true, Enrol: scenarios.EnrolAttach}, New: New}

// New returns the datapath. With the proxy off, mode l7 and mtls, which need
// the proxy, cannot apply.
func New(opts scenarios.DatapathOptions) (datapaths.Datapath, error) {
	if opts.Proxy == scenarios.ProxyOff && (opts.Mode == scenarios.ModeL7 || opts.MTLS) {
		return nil, errors.New("datapath ebpf with proxy off has no proxy: mode l7 and mtls cannot apply")
	}
	if opts.Waypoint {
		return nil, errors.New("datapath ebpf does not send traffic through waypoints: a waypoint cannot apply")
	}
	return &ebpfPath{opts: opts}, nil
}

// ProxyContainer is the node agent's container the node proxy runs in: on
// the netns provider a child of the node's cgroup, a sibling of the pod
// cgroups, since the proxy's programs and the pods' must not nest.
const ProxyContainer = "ebpf-proxy"

// startParallel bounds how many node agents start at once: loading programs
// is CPU-bound and the machine may have two cores.
const startParallel = 8

type ebpfPath struct {
	opts scenarios.DatapathOptions
	// m runs the node proxies; nil with the proxy off.
	m *mesh.Mesh

	// mu guards agents and serializes calls to them: an agent answers one
	// at a time.
	mu     sync.Mutex
	agents []nodeAgent

	// rootHoldsNode is, attached at the node, whether the pod cgroup root
	// is the node's own cgroup (netns), so that the node's processes are
	// below it too; a kubelet's kubepods holds pods only.
	rootHoldsNode bool
}

// nodeAgent is the agent holding one node's datapath.
type nodeAgent struct {
	node   string
	agent  *agentctl.Agent
	client Client
}

var (
	_ datapaths.Datapath   = (*ebpfPath)(nil)
	_ datapaths.Counted    = (*ebpfPath)(nil)
	_ datapaths.Costed     = (*ebpfPath)(nil)
	_ datapaths.BPFCosted  = (*ebpfPath)(nil)
	_ datapaths.Injector   = (*ebpfPath)(nil)
	_ datapaths.Sourced    = (*ebpfPath)(nil)
	_ datapaths.Reacher    = (*ebpfPath)(nil)
	_ datapaths.BPFSourced = (*ebpfPath)(nil)
)

// Reach says what the datapath's hooks reach: attached per pod, the pods
// the injection labels admit; at the node, every process below the node's
// pod cgroup root: pods and node processes alike where that is the node's
// cgroup (netns), the pods only where it is the kubelet's kubepods.
func (e *ebpfPath) Reach() string {
	switch {
	case e.opts.Attach == scenarios.AttachNode && e.rootHoldsNode:
		return "cgroup programs at the node's cgroup, which holds its pods and its own processes, and tc on every veth of the node: a process outside the node's cgroup would bypass them"
	case e.opts.Attach == scenarios.AttachNode:
		return "cgroup programs at the kubelet's pod cgroup root (kubepods), which holds every pod of the node but no process started on the node outside Kubernetes, and tc on every veth of the node: such host processes bypass the cgroup programs"
	}
	return "cgroup programs on the cgroup of each pod the injection labels admit, and tc on their veths: pods the labels exclude and processes on the node bypass them"
}

func (e *ebpfPath) proxyOn() bool { return e.opts.Proxy != scenarios.ProxyOff }

// Injection gives the node proxies a container of their own on every node;
// with the proxy off there is none.
func (e *ebpfPath) Injection(clusters.Spec) clusters.Injection {
	if !e.proxyOn() {
		return clusters.Injection{}
	}
	return clusters.Injection{NodeContainers: []string{ProxyContainer}}
}

// Install starts the node proxies, then an agent on every node that loads
// and attaches the node's programs. It returns an error wrapping
// datapaths.ErrUnsupported, naming the missing feature, when a node's
// kernel lacks a program type, map type or helper the mode needs.
func (e *ebpfPath) Install(ctx context.Context, c clusters.Cluster) error {
	if e.opts.Attach == scenarios.AttachNode {
		e.rootHoldsNode = true
		for _, n := range c.Topology().Nodes {
			if n.PodCgroupRoot == "" {
				return fmt.Errorf("%w: attach node needs the cgroup v2 directory that holds node %s's pods, which this cluster does not give (a provider without pod cgroups, or a kubelet that keeps its pods in cgroup v1 only): use attach pod, or a node on cgroup v2", datapaths.ErrUnsupported, n.Name)
			}
			e.rootHoldsNode = e.rootHoldsNode && n.PodCgroupRoot == n.Cgroup
		}
	}
	if e.proxyOn() {
		if err := e.startProxies(ctx, c); err != nil {
			return err
		}
	}
	topo := c.Topology()
	services := mesh.ServiceTable(topo)
	errs := make([]error, len(topo.Nodes))
	sem := make(chan struct{}, startParallel)
	var wg sync.WaitGroup
	for i, node := range topo.Nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = e.startAgent(ctx, c, e.nodeConfig(topo, node, services), node.Name)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startProxies starts the node proxies as the nodeproxy datapath does, with
// no netfilter steering and no splice; with mTLS each node's table holds
// only the rejections that make it strict.
func (e *ebpfPath) startProxies(ctx context.Context, c clusters.Cluster) error {
	m, err := mesh.New(Name, e.opts, c)
	e.m = m
	if err != nil {
		return err
	}
	var launches []mesh.Launch
	for _, node := range c.Topology().Nodes {
		opts, files, err := nodeproxy.Options(m, node)
		if err != nil {
			return err
		}
		opts.Splice = false
		l := mesh.Launch{
			Proxy:   mesh.Proxy{Node: node.Name, Container: ProxyContainer},
			Options: opts,
			Files:   files,
		}
		if rejects := m.Strict(node.Name); rejects != nil {
			// Strict mTLS: the node refuses plaintext to its pods, which
			// the tc program leaves to it (podConfig.StrictPort).
			l.Steer = &steer.Table{Name: mesh.TableName(Name, m.Topo.RunID), SkipMark: proxy.DefaultMark, Rejects: rejects}
		}
		launches = append(launches, l)
	}
	return m.StartAll(ctx, launches)
}

// nodeConfig is what the agent on node needs to know.
func (e *ebpfPath) nodeConfig(topo *clusters.Topology, node clusters.Node, services []proxy.Service) agentOptions {
	cfg := agentOptions{Mode: redirect.ModeNoProxy.String(), NodeIP: node.IP, Services: services}
	if e.proxyOn() {
		cfg.Mode = redirect.ModeProxy.String()
		cfg.NodeProxy = netip.AddrPortFrom(node.IP, mesh.OutboundPort)
		cfg.ProxyCgroup = node.ContainerCgroup(ProxyContainer)
	}
	if e.opts.Attach == scenarios.AttachNode {
		// Nothing announced: the agent finds the node's pods itself.
		cfg.NodeCgroup = node.PodCgroupRoot
		if e.opts.MTLS {
			cfg.NodeStrictPort = strictPort(topo)
		}
		return cfg
	}
	for _, p := range topo.PodsOn(node.Name) {
		if !topo.Injected(p) {
			// Attached per pod, the datapath follows the injection labels,
			// as Merbridge follows Istio's.
			continue
		}
		iface := p.PodVeth
		if iface == "" {
			iface = "eth0"
		}
		pc := podConfig{Name: p.Name, IP: p.IP, NetNS: p.NetNS, Cgroup: p.Cgroup, Veth: p.Veth, Iface: iface}
		if e.opts.MTLS {
			svc, _ := topo.Service(p.Service)
			pc.StrictPort = uint16(svc.TargetPort)
		}
		cfg.Pods = append(cfg.Pods, pc)
	}
	return cfg
}

// strictPort is the application port of the run's pods, which strict mTLS
// leaves to the node's netfilter; the runner gives every service the same.
func strictPort(topo *clusters.Topology) uint16 {
	for _, svc := range topo.Services {
		if svc.Role != "client" {
			return uint16(svc.TargetPort)
		}
	}
	return 0
}

// AgentCaps are the capabilities the node agent needs, as measured:
// loading programs and maps (CAP_BPF), attaching them to cgroups and tc
// (CAP_NET_ADMIN), and CAP_PERFMON, without which the verifier refuses the
// pointer arithmetic of redirect_to_peer. An agent that must find a pod's
// veth from inside the pod's namespace (a provider that does not name it)
// needs CAP_SYS_ADMIN besides, to enter it.
var AgentCaps = []clusters.Capability{clusters.CapBPF, clusters.CapNetAdmin, clusters.CapPerfmon}

// caps are the capabilities of the agent with cfg.
func (cfg agentOptions) caps() []clusters.Capability {
	for _, p := range cfg.Pods {
		if p.Veth == "" {
			return append(slices.Clone(AgentCaps), clusters.CapSysAdmin)
		}
	}
	return AgentCaps
}

// startAgent starts the agent of one node and keeps it for Uninstall.
func (e *ebpfPath) startAgent(ctx context.Context, c clusters.Cluster, cfg agentOptions, node string) error {
	a, err := agentctl.Start(ctx, c, clusters.ProcSpec{
		Target: clusters.Target{Node: node}, Name: "ebpf agent on node " + node, Args: cfg.Args(),
		Caps: cfg.caps(),
	})
	switch {
	case err != nil && strings.Contains(err.Error(), unsupportedMsg):
		return fmt.Errorf("%w: node %s: %w", datapaths.ErrUnsupported, node, err)
	case err != nil:
		return fmt.Errorf("install ebpf datapath on node %s: %w", node, err)
	}
	e.mu.Lock()
	e.agents = append(e.agents, nodeAgent{node: node, agent: a, client: Client{Caller: a}})
	e.mu.Unlock()
	return nil
}

// counters sums the BPF counters over nodes.
func (e *ebpfPath) counters(ctx context.Context) (redirect.Counters, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var sum redirect.Counters
	for _, n := range e.agents {
		c, err := n.client.Counters(ctx)
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

// Verify proves the programs acted on all the traffic: with the proxy,
// connect4 steered at least every connection the load agents opened (it
// also sees connects that then failed), the node proxies accepted every one
// and sk_msg redirected messages; without it, connect4 balanced at least
// every one.
func (e *ebpfPath) Verify(ctx context.Context, t datapaths.Traffic) error {
	c, err := e.counters(ctx)
	if err != nil {
		return fmt.Errorf("verify ebpf datapath: %w", err)
	}
	if !e.proxyOn() {
		if c.Balanced < t.Connections || c.Balanced == 0 {
			return mesh.NotInPath("connect4 balanced %d of the %d connections the load agents opened, tc peer-redirected %d packets",
				c.Balanced, t.Connections, c.PeerRedirected)
		}
		return nil
	}
	stats, err := e.m.Stats(ctx)
	if err != nil {
		return err
	}
	out := mesh.Sum(stats, e.m.Proxies, proxy.StatConnsOutbound, nil)
	if c.Steered < t.Connections || out != t.Connections || c.Messages == 0 || out == 0 {
		return mesh.NotInPath("connect4 steered %d and node proxies accepted %d of the %d connections the load agents opened, sk_msg redirected %d messages",
			c.Steered, out, t.Connections, c.Messages)
	}
	return nil
}

// PathCounters reports the eBPF redirects: sk_msg messages handed socket to
// socket and packets delivered with bpf_redirect_peer, and the connections
// connect4 steered to a node proxy or balanced to an endpoint. The datapath
// has no netfilter rules.
func (e *ebpfPath) PathCounters(ctx context.Context) (datapaths.PathCounters, error) {
	c, err := e.counters(ctx)
	if err != nil {
		return datapaths.PathCounters{}, fmt.Errorf("read ebpf datapath counters: %w", err)
	}
	return datapaths.PathCounters{Redirects: c.Messages + c.PeerRedirected, Connections: c.Steered + c.Balanced}, nil
}

// Sources returns what the node proxies intercepted per source address;
// with the proxy off there is no per-source counter (connect4 runs before
// a socket has its source address).
func (e *ebpfPath) Sources(ctx context.Context) (map[netip.Addr]datapaths.SourceCounts, error) {
	if e.m == nil {
		return nil, fmt.Errorf("%w: with the proxy off, connect4 balances sockets before they have a source address", datapaths.ErrNoSourceCounters)
	}
	return e.m.Sources(ctx)
}

// BPFSources sums the nodes' src_conns maps: the connections connect4
// steered per source address, as the kernel counted them.
func (e *ebpfPath) BPFSources(ctx context.Context) (map[netip.Addr]uint64, error) {
	if e.m == nil {
		return nil, fmt.Errorf("%w: with the proxy off, no sockops program counts sources", datapaths.ErrNoSourceCounters)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[netip.Addr]uint64{}
	for _, n := range e.agents {
		src, err := n.client.Sources(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.node, err)
		}
		for a, c := range src {
			out[a] += c
		}
	}
	return out, nil
}

// Components lists the node proxies' cgroups; none with the proxy off.
func (e *ebpfPath) Components() []datapaths.Component {
	if e.m == nil {
		return nil
	}
	return e.m.Components()
}

// BPFMemoryBytes returns each node's BPF maps and programs, in bytes.
func (e *ebpfPath) BPFMemoryBytes(ctx context.Context) (map[string]uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]uint64, len(e.agents))
	for _, n := range e.agents {
		b, err := n.client.Memory(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.node, err)
		}
		out[n.node] = b
	}
	return out, nil
}

// Uninstall stops the node agents, which detaches and frees every node's
// programs and maps, then stops the proxies and removes their state.
func (e *ebpfPath) Uninstall(ctx context.Context) error {
	e.mu.Lock()
	agents := e.agents
	e.agents = nil
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range agents {
		wg.Go(n.agent.Stop)
	}
	wg.Wait()
	return e.m.Uninstall(ctx)
}
