package wireguard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/internal/mesh"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/scenarios"
)

// Name is the encryption's name in scenarios.
const Name = scenarios.EncryptionWireGuard

// The tunnels' settings, the same on every node. The mark and table are
// wg-quick's (51820), apart from the proxies' mark (proxy.DefaultMark).
const (
	Device       = "mbwg0"
	Port         = 51820
	Mark         = 0xca6c
	Table        = 51820
	RulePriority = 100
	// Container is the node agent's container the device runs in, so
	// that wireguard-go's CPU and memory count as the datapath's.
	Container = "wireguard"
	// TUN is the TUN clone device.
	TUN = "/dev/net/tun"
)

// Encrypt returns k able to run over WireGuard tunnels between the nodes:
// for options with encryption wireguard, its datapath is wrapped so that
// Install first brings up a tunnel between every two nodes.
func Encrypt(k datapaths.Kind) datapaths.Kind {
	k.Encryption = true
	inner := k.New
	k.New = func(opts scenarios.DatapathOptions) (datapaths.Datapath, error) {
		enc := opts.Encryption
		opts.Encryption = ""
		dp, err := inner(opts)
		switch {
		case err != nil || enc == "":
			return dp, err
		case enc != Name:
			return nil, fmt.Errorf("encryption %q: want %s", enc, Name)
		case opts.Proxy == scenarios.ProxyOff:
			return nil, fmt.Errorf("datapath %s with proxy off delivers packets from the node's uplink, which wireguard bypasses: proxy off cannot apply", k.Name)
		}
		return wrap(&Encrypted{Inner: dp, tun: TUN}), nil
	}
	return k
}

// Encrypted is a datapath running over WireGuard tunnels between the nodes.
type Encrypted struct {
	// Inner is the datapath over the tunnels.
	Inner datapaths.Datapath
	// tun is the TUN clone device the node agents open.
	tun string

	topo   *clusters.Topology
	fabric Fabric
	dir    string

	// mu guards agents and impl and serializes calls to the agents.
	mu     sync.Mutex
	agents []nodeAgent
	impl   string
}

type nodeAgent struct {
	node   string
	agent  *agentctl.Agent
	client Client
}

var (
	_ datapaths.Datapath  = (*Encrypted)(nil)
	_ datapaths.Costed    = (*Encrypted)(nil)
	_ datapaths.Injector  = (*Encrypted)(nil)
	_ datapaths.Encrypted = (*Encrypted)(nil)
)

// The optional abilities of the inner datapath, which the runner finds by
// type assertion, must be the wrapper's exactly: a wrapper claiming
// counters the inner datapath lacks would read as zero.
type (
	withCounters struct{ *Encrypted }
	withBPF      struct{ *Encrypted }
	withBoth     struct{ *Encrypted }
)

var (
	_ datapaths.Counted   = withCounters{}
	_ datapaths.BPFCosted = withBPF{}
	_ datapaths.Counted   = withBoth{}
	_ datapaths.BPFCosted = withBoth{}
)

func (w withCounters) PathCounters(ctx context.Context) (datapaths.PathCounters, error) {
	return w.Inner.(datapaths.Counted).PathCounters(ctx)
}

func (w withBPF) BPFMemoryBytes(ctx context.Context) (map[string]uint64, error) {
	return w.Inner.(datapaths.BPFCosted).BPFMemoryBytes(ctx)
}

func (w withBoth) PathCounters(ctx context.Context) (datapaths.PathCounters, error) {
	return withCounters(w).PathCounters(ctx)
}

func (w withBoth) BPFMemoryBytes(ctx context.Context) (map[string]uint64, error) {
	return withBPF(w).BPFMemoryBytes(ctx)
}

// wrap returns e with the optional abilities of its inner datapath.
func wrap(e *Encrypted) datapaths.Datapath {
	_, counted := e.Inner.(datapaths.Counted)
	_, bpf := e.Inner.(datapaths.BPFCosted)
	switch {
	case counted && bpf:
		return withBoth{e}
	case counted:
		return withCounters{e}
	case bpf:
		return withBPF{e}
	}
	return e
}

// Encryption says wireguard and, after Install, which implementation the
// nodes run; nodes that differ are listed.
func (e *Encrypted) Encryption() datapaths.Encryption {
	e.mu.Lock()
	defer e.mu.Unlock()
	return datapaths.Encryption{Name: Name, Implementation: e.impl}
}

// Injection gives the node agents a container of their own on every node,
// besides the inner datapath's containers.
func (e *Encrypted) Injection(spec clusters.Spec) clusters.Injection {
	var inj clusters.Injection
	if i, ok := e.Inner.(datapaths.Injector); ok {
		inj = i.Injection(spec)
	}
	inj.NodeContainers = append(slices.Clone(inj.NodeContainers), Container)
	return inj
}

// Components lists the inner datapath's processes and the node agents,
// which run wireguard-go where the kernel has no WireGuard.
func (e *Encrypted) Components() []datapaths.Component {
	var out []datapaths.Component
	if c, ok := e.Inner.(datapaths.Costed); ok {
		out = c.Components()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.agents {
		n, _ := e.topo.Node(a.node)
		out = append(out, datapaths.Component{Name: Container, Node: a.node, Cgroup: n.ContainerCgroup(Container)})
	}
	return out
}

// Install brings up a tunnel between every two nodes, with keys made for
// this cluster, then installs the inner datapath. Where the provider has a
// fabric namespace (netns), plaintext is counted there; elsewhere (kube,
// kind) the nodes are shared with other traffic, so each node agent counts
// on its node's fabric-facing device, routes only the run's pods and node
// proxy tunnels through its device, under names of the run's (NamesOf),
// and refuses a node that already encrypts. It returns an error wrapping
// datapaths.ErrUnsupported when a node has neither WireGuard in its kernel
// nor a TUN device, or its cluster already encrypts between nodes.
func (e *Encrypted) Install(ctx context.Context, c clusters.Cluster) error {
	topo := c.Topology()
	e.topo = topo
	if topo.FabricNetNS != "" {
		e.fabric = Fabric{NetNS: topo.FabricNetNS, Table: e.table(), Port: Port}
		if err := e.fabric.Install(); err != nil {
			return fmt.Errorf("install wireguard: %w", err)
		}
	} else if err := ipv4Only(topo); err != nil {
		return err
	}
	e.dir = datapaths.StatePath(topo.RunID, Name)
	keys := make([]wgtypes.Key, len(topo.Nodes))
	for i := range keys {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			return fmt.Errorf("generate wireguard key: %w", err)
		}
		keys[i] = k
	}
	errs := make([]error, len(topo.Nodes))
	var wg sync.WaitGroup
	for i := range topo.Nodes {
		wg.Go(func() { errs[i] = e.startAgent(ctx, c, i, keys) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := e.readImplementation(ctx); err != nil {
		return err
	}
	return e.Inner.Install(ctx, c)
}

// table names the nftables table that counts plaintext, in the fabric's
// namespace or on each node; the kube provider's node agents remove
// tables of this form as they end.
func (e *Encrypted) table() string { return "mb-wg-" + e.topo.RunID }

// ipv4Only returns an error wrapping datapaths.ErrUnsupported unless the
// nodes and pods have IPv4 addresses, which the node agents count and
// route by.
func ipv4Only(topo *clusters.Topology) error {
	for _, n := range topo.Nodes {
		if !n.IP.Is4() {
			return fmt.Errorf("%w: wireguard needs IPv4 node addresses; node %s has %v", datapaths.ErrUnsupported, n.Name, n.IP)
		}
	}
	for _, p := range topo.Pods {
		if !p.IP.Is4() {
			return fmt.Errorf("%w: wireguard needs IPv4 pod addresses; pod %s has %v", datapaths.ErrUnsupported, p.Name, p.IP)
		}
	}
	return nil
}

// Options are the node agent's options for node i, whose peers are all the
// other nodes, with the private key keys[i]. In a fabric namespace's
// cluster the peers' pod ranges and node addresses go through the
// tunnels; on shared nodes only the run's pods on the peer, and its node
// address for the node proxies' tunnel port.
func (e *Encrypted) Options(i int, keys []wgtypes.Key) Options {
	n := e.topo.Nodes[i]
	o := Options{
		Device: Device, NodeIP: n.IP, ListenPort: Port, Mark: Mark, Table: Table, RulePriority: RulePriority,
		TUN: e.tun, KeyFile: filepath.Join(e.dir, n.Name, "private.key"),
	}
	shared := e.fabric.NetNS == ""
	if shared {
		names := NamesOf(e.topo.RunID)
		o.Device, o.Table, o.PortTable = names.Device, names.Table, names.PortTable
		o.Ports = []uint16{mesh.TunnelPort}
		o.RefuseEncrypted = true
		o.Count = &Count{Table: e.table()}
		for _, p := range e.topo.Pods {
			o.Count.Pods = append(o.Count.Pods, p.IP)
		}
		for _, p := range e.topo.Nodes {
			o.Count.Nodes = append(o.Count.Nodes, p.IP)
		}
	}
	for j, p := range e.topo.Nodes {
		if j == i {
			continue
		}
		peer := Peer{Node: p.Name, PublicKey: keys[j].PublicKey().String(), Endpoint: netip.AddrPortFrom(p.IP, Port)}
		host := netip.PrefixFrom(p.IP, 32)
		switch {
		case shared:
			for _, pod := range e.topo.PodsOn(p.Name) {
				peer.AllowedIPs = append(peer.AllowedIPs, netip.PrefixFrom(pod.IP, 32))
			}
			peer.PortIPs = []netip.Prefix{host}
		default:
			peer.AllowedIPs = []netip.Prefix{host}
			if p.PodCIDR.IsValid() {
				peer.AllowedIPs = append(peer.AllowedIPs, p.PodCIDR)
			}
		}
		o.Peers = append(o.Peers, peer)
	}
	return o
}

func (e *Encrypted) startAgent(ctx context.Context, c clusters.Cluster, i int, keys []wgtypes.Key) error {
	o := e.Options(i, keys)
	node := e.topo.Nodes[i].Name
	a, err := agentctl.StartWithFiles(ctx, c, clusters.ProcSpec{
		Target: clusters.Target{Node: node}, Container: Container, Name: "wireguard agent on node " + node,
		Args: o.Args(), Caps: []clusters.Capability{clusters.CapNetAdmin}, StateDir: filepath.Dir(o.KeyFile),
	}, map[string][]byte{o.KeyFile: []byte(keys[i].String() + "\n")})
	switch {
	case err != nil && (strings.Contains(err.Error(), unsupportedMsg) || strings.Contains(err.Error(), cniEncryptsMsg)):
		return fmt.Errorf("%w: node %s: %w", datapaths.ErrUnsupported, node, err)
	case err != nil:
		return fmt.Errorf("install wireguard on node %s: %w", node, err)
	}
	e.mu.Lock()
	e.agents = append(e.agents, nodeAgent{node: node, agent: a, client: Client{Caller: a}})
	e.mu.Unlock()
	return nil
}

// states reads every node's device.
func (e *Encrypted) states(ctx context.Context) (map[string]State, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]State, len(e.agents))
	for _, a := range e.agents {
		s, err := a.client.State(ctx)
		if err != nil {
			return nil, fmt.Errorf("read wireguard on node %s: %w", a.node, err)
		}
		out[a.node] = s
	}
	return out, nil
}

// readImplementation records which implementation the nodes run.
func (e *Encrypted) readImplementation(ctx context.Context) error {
	states, err := e.states(ctx)
	if err != nil {
		return err
	}
	var impls []string
	for _, n := range e.topo.Nodes {
		impls = append(impls, states[n.Name].Implementation)
	}
	impl := impls[0]
	if slices.ContainsFunc(impls, func(s string) bool { return s != impl }) {
		var byNode []string
		for i, n := range e.topo.Nodes {
			byNode = append(byNode, n.Name+" "+impls[i])
		}
		impl = strings.Join(byNode, ", ")
	}
	e.mu.Lock()
	e.impl = impl
	e.mu.Unlock()
	return nil
}

// Verify proves the inner datapath is in the path, then that the tunnels
// are: no plaintext TCP crossed the fabric since Install, and, where a
// server runs on another node than a client, WireGuard packets did.
func (e *Encrypted) Verify(ctx context.Context, t datapaths.Traffic) error {
	if err := e.Inner.Verify(ctx, t); err != nil {
		return err
	}
	// A dead node agent takes its device with it.
	states, err := e.states(ctx)
	if err != nil {
		return mesh.NotInPath("%v", err)
	}
	counts, where, err := e.counts(states)
	if err != nil {
		return fmt.Errorf("verify wireguard: %w", err)
	}
	if counts.PlaintextTCP > 0 {
		return mesh.NotInPath("%d plaintext TCP packets crossed %s, bypassing the wireguard tunnels (%d wireguard packets did)",
			counts.PlaintextTCP, where, counts.WireGuard)
	}
	if crossNode(e.topo) && counts.WireGuard == 0 {
		return mesh.NotInPath("servers run on other nodes than the clients, but no wireguard packet crossed %s", where)
	}
	return nil
}

// Counts reads what crossed between nodes since Install: on the fabric,
// or summed over every node's fabric-facing device in and out.
func (e *Encrypted) Counts(ctx context.Context) (FabricCounts, error) {
	states, err := e.states(ctx)
	if err != nil {
		return FabricCounts{}, err
	}
	c, _, err := e.counts(states)
	return c, err
}

// counts is Counts from the nodes' states, and where it counted.
func (e *Encrypted) counts(states map[string]State) (FabricCounts, string, error) {
	if e.fabric.NetNS != "" {
		c, err := e.fabric.Counts()
		return c, "the fabric between nodes", err
	}
	var sum FabricCounts
	for _, n := range e.topo.Nodes {
		c := states[n.Name].Counts
		if c == nil {
			return sum, "", fmt.Errorf("node %s counted nothing on its fabric-facing device", n.Name)
		}
		sum.PlaintextTCP += c.PlaintextTCP
		sum.WireGuard += c.WireGuard
	}
	return sum, "the nodes' fabric-facing devices between the run's pods or node proxies", nil
}

// crossNode reports whether a server pod runs on another node than a
// client pod.
func crossNode(topo *clusters.Topology) bool {
	var clients, servers []string
	for _, s := range topo.Services {
		for _, name := range s.Pods {
			p, _ := topo.Pod(name)
			if s.Role == "client" {
				clients = append(clients, p.Node)
			} else {
				servers = append(servers, p.Node)
			}
		}
	}
	for _, s := range servers {
		for _, c := range clients {
			if s != c {
				return true
			}
		}
	}
	return false
}

// Uninstall removes the inner datapath, then stops the node agents, which
// removes the devices with their routes and rules, the fabric's counters
// and the key files with the run's state directory. It is safe after a failed or partial Install.
func (e *Encrypted) Uninstall(ctx context.Context) error {
	errs := []error{e.Inner.Uninstall(ctx)}
	e.mu.Lock()
	agents := e.agents
	e.agents = nil
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(a.agent.Stop)
	}
	wg.Wait()
	if e.fabric.NetNS != "" {
		errs = append(errs, e.fabric.Remove())
	}
	if e.topo != nil {
		// The keys, and the run's state directory, which the inner
		// datapath may have had no files in.
		errs = append(errs, datapaths.RemoveState(e.topo.RunID))
	}
	return errors.Join(errs...)
}
