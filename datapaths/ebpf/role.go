package ebpf

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/meshbench/meshbench/bpf/redirect"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/hostfs"
)

// Role is the node agent that holds a node's datapath: it loads the
// programs, attaches them and fills their maps before it reports ready,
// answers the calls of [Client], and closes everything, which detaches it,
// when it exits. It runs in the node's network namespace.
const Role = "ebpf"

// unsupportedMsg starts the agent's error when the node's kernel lacks
// something the datapath needs. Errors cross the process boundary as text,
// so Install looks for it to return datapaths.ErrUnsupported.
const unsupportedMsg = "node kernel unsupported"

// The role's methods.
var (
	countersMethod = agent.Method[struct{}, redirect.Counters]{Name: "counters"}
	memoryMethod   = agent.Method[struct{}, uint64]{Name: "memory"}
	sourcesMethod  = agent.Method[struct{}, map[netip.Addr]uint64]{Name: "sources"}
)

// Client calls a node agent.
type Client struct {
	agent.Caller
}

// Counters returns the node's datapath counters.
func (c Client) Counters(ctx context.Context) (redirect.Counters, error) {
	return agent.Invoke(ctx, c.Caller, countersMethod, struct{}{})
}

// Sources returns the connections the node's connect4 steered, per source
// address.
func (c Client) Sources(ctx context.Context) (map[netip.Addr]uint64, error) {
	return agent.Invoke(ctx, c.Caller, sourcesMethod, struct{}{})
}

// Memory returns the bytes of the node's BPF maps and programs.
func (c Client) Memory(ctx context.Context) (uint64, error) {
	return agent.Invoke(ctx, c.Caller, memoryMethod, struct{}{})
}

// agentOptions are the role's flags: the node's datapath, which the agent
// gets as JSON in its -config flag.
type agentOptions struct {
	// Mode is redirect.ModeProxy or redirect.ModeNoProxy, as its String.
	Mode string `json:"mode"`
	// NodeIP is the node's fabric address; the device holding it is the
	// uplink.
	NodeIP netip.Addr `json:"nodeIP"`
	// NodeProxy is the node proxy's outbound listener; with the proxy only.
	NodeProxy netip.AddrPort `json:"nodeProxy,omitzero"`
	// ProxyCgroup is the node proxy's cgroup (v2, relative to the node's
	// cgroup2 mount); with the proxy only.
	ProxyCgroup string          `json:"proxyCgroup,omitempty"`
	Services    []proxy.Service `json:"services"`
	Pods        []podConfig     `json:"pods"`
	// NodeCgroup, when set, attaches at the node (attach: node): the
	// cgroup programs at this cgroup, the parent of the node's pods, and
	// the tc program on every veth of the node, whose pods the agent finds
	// by their routes instead of Pods.
	NodeCgroup string `json:"nodeCgroup,omitempty"`
	// NodeStrictPort is, with NodeCgroup and strict mTLS, the application
	// port of every pod found (podConfig.StrictPort).
	NodeStrictPort uint16 `json:"nodeStrictPort,omitempty"`
}

// podConfig is one pod of the node.
type podConfig struct {
	Name string     `json:"name"`
	IP   netip.Addr `json:"ip"`
	// NetNS is the pod's network namespace as the node sees it.
	NetNS string `json:"netns"`
	// Cgroup is the pod's cgroup (v2, relative to the node's cgroup2 mount).
	Cgroup string `json:"cgroup"`
	// Veth is the host-side veth; when empty, it is the peer of Iface.
	Veth string `json:"veth,omitempty"`
	// Iface is the pod's side of its veth.
	Iface string `json:"iface"`
	// StrictPort is, under strict mTLS, the pod's application port, which
	// the tc program leaves to the node's netfilter (redirect.AddPod).
	StrictPort uint16 `json:"strictPort,omitempty"`
}

// Args renders the arguments of the meshbench executable that run the
// node agent with o.
func (o agentOptions) Args() []string {
	b, err := json.Marshal(o)
	if err != nil {
		// Strings, addresses and lists of them always encode.
		panic(fmt.Sprintf("encode the node's datapath: %v", err))
	}
	return []string{"agent", Role, "-config", string(b)}
}

func parseAgentOptions(args []string, stderr io.Writer) (agentOptions, error) {
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o agentOptions
	fs.Func("config", "the node's datapath as `JSON`", func(s string) error { return json.Unmarshal([]byte(s), &o) })
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	return o, nil
}

func parseMode(s string) (redirect.Mode, error) {
	for _, m := range []redirect.Mode{redirect.ModeProxy, redirect.ModeNoProxy} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("mode %q: want %s or %s", s, redirect.ModeProxy, redirect.ModeNoProxy)
}

// NodeAgent runs the role: it sets up the node's datapath, answers the
// calls of a Client until stdin closes, and then closes the datapath.
func NodeAgent(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseAgentOptions(args, stderr)
	if err != nil {
		return err
	}
	d, err := setUp(cfg)
	if err != nil {
		return err
	}
	err = agent.Serve(ctx, "", stdin, stdout,
		agent.Handle(countersMethod, func(context.Context, struct{}) (redirect.Counters, error) { return d.Counters() }),
		agent.Handle(memoryMethod, func(context.Context, struct{}) (uint64, error) { return d.MemoryBytes() }),
		agent.Handle(sourcesMethod, func(context.Context, struct{}) (map[netip.Addr]uint64, error) { return d.SourceConnections() }),
	)
	return errors.Join(err, d.Close())
}

// setUp loads the node's datapath, fills its maps and attaches it to the
// pods' and the proxy's cgroups, the uplink and the pods' veths. On error
// it closes what it loaded.
func setUp(cfg agentOptions) (*redirect.Datapath, error) {
	mode, err := parseMode(cfg.Mode)
	if err != nil {
		return nil, err
	}
	if err := redirect.Supported(mode); err != nil {
		return nil, fmt.Errorf("%s: %w", unsupportedMsg, err)
	}
	cgroups, err := hostfs.DetectCgroups()
	if err != nil {
		return nil, err
	}
	d, err := redirect.Load(redirect.Config{Mode: mode, NodeProxy: cfg.NodeProxy})
	if err != nil {
		return nil, err
	}
	if err := attach(d, cfg, cgroups); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

func attach(d *redirect.Datapath, cfg agentOptions, cgroups hostfs.Cgroups) error {
	for _, s := range cfg.Services {
		if err := d.AddService(netip.AddrPortFrom(s.VIP, s.Port), s.Endpoints); err != nil {
			return err
		}
	}
	if cfg.NodeCgroup != "" {
		return attachNode(d, cfg, cgroups)
	}
	for _, p := range cfg.Pods {
		if err := d.AttachCgroup(cgroups.Dir(p.Cgroup)); err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
	}
	if cfg.ProxyCgroup != "" {
		if err := d.AttachProxyCgroup(cgroups.Dir(cfg.ProxyCgroup)); err != nil {
			return err
		}
	}
	uplink, err := interfaceWith(cfg.NodeIP)
	if err != nil {
		return err
	}
	if err := d.AttachTC(uplink.Index); err != nil {
		return fmt.Errorf("uplink %s: %w", uplink.Name, err)
	}
	for _, p := range cfg.Pods {
		veth, err := hostVeth(p)
		if err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
		if err := d.AddPod(p.IP, veth.Attrs().Index, p.StrictPort); err != nil {
			return err
		}
		if err := d.AttachTC(veth.Attrs().Index); err != nil {
			return fmt.Errorf("veth %s of pod %s: %w", veth.Attrs().Name, p.Name, err)
		}
	}
	return nil
}

// attachNode attaches at the node: the cgroup programs at the node's
// cgroup, and the tc program on the uplink and every veth of the node's
// namespace, with a pod for each /32 route through a veth, as a CNI plugin
// routes to its pods (kindnet, ptp). Pods nobody announced are found so.
func attachNode(d *redirect.Datapath, cfg agentOptions, cgroups hostfs.Cgroups) error {
	proxyCgroup := ""
	if cfg.ProxyCgroup != "" {
		proxyCgroup = cgroups.Dir(cfg.ProxyCgroup)
	}
	if err := d.AttachNodeCgroup(cgroups.Dir(cfg.NodeCgroup), proxyCgroup); err != nil {
		return fmt.Errorf("node cgroup: %w", err)
	}
	uplink, err := interfaceWith(cfg.NodeIP)
	if err != nil {
		return err
	}
	if err := d.AttachTC(uplink.Index); err != nil {
		return fmt.Errorf("uplink %s: %w", uplink.Name, err)
	}
	pods, err := nodePods()
	if err != nil {
		return err
	}
	for _, p := range pods {
		if err := d.AddPod(p.ip, p.link.Attrs().Index, cfg.NodeStrictPort); err != nil {
			return err
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list the node's devices: %w", err)
	}
	for _, l := range links {
		if l.Type() != "veth" || l.Attrs().Index == uplink.Index {
			// The uplink may be a veth too (to the nodes' network).
			continue
		}
		if err := d.AttachTC(l.Attrs().Index); err != nil {
			return fmt.Errorf("veth %s: %w", l.Attrs().Name, err)
		}
	}
	return nil
}

// nodePod is a pod found by its route.
type nodePod struct {
	ip   netip.Addr
	link netlink.Link
}

// nodePods returns a pod for each IPv4 /32 route of the agent's namespace
// through a veth.
func nodePods() ([]nodePod, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list the node's routes: %w", err)
	}
	var out []nodePod
	for _, r := range routes {
		if r.Dst == nil || r.LinkIndex == 0 {
			continue
		}
		if ones, bits := r.Dst.Mask.Size(); ones != 32 || bits != 32 {
			continue
		}
		l, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			return nil, fmt.Errorf("find the device of the route to %s: %w", r.Dst, err)
		}
		ip, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if l.Type() != "veth" || !ok {
			continue
		}
		out = append(out, nodePod{ip: ip, link: l})
	}
	return out, nil
}

// interfaceWith returns the interface holding ip in the agent's network
// namespace.
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

// hostVeth returns the node side of a pod's veth in the agent's network
// namespace: by name when the topology knows it, else the peer of the
// pod's interface, which must live in the agent's namespace.
func hostVeth(p podConfig) (netlink.Link, error) {
	if p.Veth != "" {
		l, err := netlink.LinkByName(p.Veth)
		if err != nil {
			return nil, fmt.Errorf("find veth %s: %w", p.Veth, err)
		}
		return l, nil
	}
	podNS, err := netns.GetFromPath(p.NetNS)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", p.NetNS, err)
	}
	defer podNS.Close()
	self, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("open the agent's network namespace: %w", err)
	}
	defer self.Close()
	h, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return nil, fmt.Errorf("open netlink in %s: %w", p.NetNS, err)
	}
	defer h.Close()
	podSide, err := h.LinkByName(p.Iface)
	if err != nil {
		return nil, fmt.Errorf("find %s in %s: %w", p.Iface, p.NetNS, err)
	}
	peer := podSide.Attrs().ParentIndex
	if podSide.Type() != "veth" || peer == 0 {
		return nil, fmt.Errorf("%s in %s is a %s without a peer, want a veth", p.Iface, p.NetNS, podSide.Type())
	}
	// The pod's namespace names the peer's namespace by an id of its own.
	selfID, err := h.GetNetNsIdByFd(int(self))
	if err != nil {
		return nil, fmt.Errorf("find the agent's namespace id in %s: %w", p.NetNS, err)
	}
	if selfID < 0 || podSide.Attrs().NetNsID != selfID {
		return nil, fmt.Errorf("the peer of %s in %s is not in the agent's network namespace", p.Iface, p.NetNS)
	}
	l, err := netlink.LinkByIndex(peer)
	if err != nil {
		return nil, fmt.Errorf("find the peer (ifindex %d) of %s in %s: %w", peer, p.Iface, p.NetNS, err)
	}
	return l, nil
}
