package redirect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
)

// Mode says where connect4 sends connections for a service VIP.
type Mode int

const (
	// ModeProxy sends them to the node proxy, with sockmap redirect between
	// app and proxy and between the proxy and pods on its node, and
	// SO_ORIGINAL_DST answered from BPF.
	ModeProxy Mode = iota
	// ModeNoProxy (`proxy: off`) rewrites the VIP to a backend pod:
	// socket-level load balancing, no proxy in the path.
	ModeNoProxy
)

func (m Mode) String() string {
	switch m {
	case ModeProxy:
		return "proxy"
	case ModeNoProxy:
		return "no-proxy"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Config is fixed at load time: each mode loads its own programs.
type Config struct {
	Mode Mode
	// NodeProxy is the proxy's IPv4 listen address for steered connections;
	// required with ModeProxy, empty with ModeNoProxy.
	NodeProxy netip.AddrPort
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeProxy:
		if !c.NodeProxy.Addr().Is4() || c.NodeProxy.Port() == 0 {
			return fmt.Errorf("node proxy %q: need an IPv4 address and a port", c.NodeProxy)
		}
	case ModeNoProxy:
		if c.NodeProxy.IsValid() {
			return fmt.Errorf("node proxy %s given with the proxy off", c.NodeProxy)
		}
	default:
		return fmt.Errorf("unknown mode %d", int(c.Mode))
	}
	return nil
}

// Counters says how often each part of the datapath acted.
type Counters struct {
	// Steered counts connections connect4 sent to the node proxy.
	Steered uint64
	// Balanced counts connections connect4 sent straight to a backend.
	Balanced uint64
	// Sockets counts sockets added to the sockhash (two per connection).
	Sockets uint64
	// LocalSockets counts those of Sockets that are ends of the proxy's
	// connections to pods on its node (two per connection).
	LocalSockets uint64
	// Messages and Bytes count sk_msg messages handed socket to socket.
	Messages uint64
	Bytes    uint64
	// PeerRedirected counts packets delivered with bpf_redirect_peer: those
	// of connections connect4 balanced (see [Datapath.AddPod]).
	PeerRedirected uint64
	// OrigDst counts SO_ORIGINAL_DST answers.
	OrigDst uint64
}

// Supported reports whether the kernel has the program types, map types and
// helpers that mode needs, naming the first one missing; the error then wraps
// [ebpf.ErrNotSupported]. TCX is checked when attaching ([Datapath.AttachTC]).
func Supported(mode Mode) error {
	proxy := mode == ModeProxy
	progs := []struct {
		name   string
		typ    ebpf.ProgramType
		needed bool
	}{
		{"cgroup sock_addr (connect4)", ebpf.CGroupSockAddr, true},
		{"tc (sched_cls)", ebpf.SchedCLS, true},
		{"cgroup sockopt (getsockopt)", ebpf.CGroupSockopt, proxy},
		{"sockops", ebpf.SockOps, true},
		{"sk_msg", ebpf.SkMsg, proxy},
	}
	for _, p := range progs {
		if !p.needed {
			continue
		}
		if err := features.HaveProgramType(p.typ); err != nil {
			return fmt.Errorf("ebpf datapath needs %s programs: %w", p.name, err)
		}
	}
	if proxy {
		if err := features.HaveMapType(ebpf.SockHash); err != nil {
			return fmt.Errorf("ebpf datapath needs sockhash maps: %w", err)
		}
	}
	helpers := []struct {
		typ    ebpf.ProgramType
		helper asm.BuiltinFunc
		needed bool
	}{
		{ebpf.SchedCLS, asm.FnRedirectPeer, true},
		{ebpf.CGroupSockAddr, asm.FnGetPrandomU32, !proxy},
		{ebpf.CGroupSockAddr, asm.FnGetSocketCookie, true},
		{ebpf.SockOps, asm.FnGetSocketCookie, true},
		{ebpf.SockOps, asm.FnSockHashUpdate, proxy},
		{ebpf.SkMsg, asm.FnMsgRedirectHash, proxy},
	}
	for _, h := range helpers {
		if !h.needed {
			continue
		}
		if err := features.HaveProgramHelper(h.typ, h.helper); err != nil {
			return fmt.Errorf("ebpf datapath needs helper %s in %s programs: %w", h.helper, h.typ, err)
		}
	}
	return nil
}

// programsFor lists the programs each mode loads; maps follow from them.
var programsFor = map[Mode][]string{
	ModeProxy: {
		redirectProgSteerConnect4, redirectProgTrackEstablished, redirectProgRedirectMsg,
		redirectProgAnswerOrigDst, redirectProgRedirectToPeer,
	},
	ModeNoProxy: {redirectProgBalanceConnect4, redirectProgTrackBalanced, redirectProgRedirectToPeer},
}

// Datapath is one node's loaded eBPF datapath. Its methods may be called
// from several goroutines.
type Datapath struct {
	cfg Config
	// coll holds only the programs of cfg.Mode and the maps they use, so
	// that MemoryBytes is what this mode costs.
	coll *ebpf.Collection

	mu           sync.Mutex
	links        []link.Link
	skMsg        bool // sk_msg attached to the sockhash
	podCgroups   []string
	proxyCgroups []string
	tcIfindexes  map[int]bool
}

// Load checks kernel support (see [Supported]) and loads the datapath's
// maps and programs for cfg.Mode without attaching anything to a cgroup or
// device.
func Load(cfg Config) (*Datapath, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("load ebpf datapath: %w", err)
	}
	if err := Supported(cfg.Mode); err != nil {
		return nil, err
	}
	spec, err := loadRedirect()
	if err != nil {
		return nil, fmt.Errorf("load ebpf datapath spec: %w", err)
	}
	prune(spec, programsFor[cfg.Mode])
	if cfg.Mode == ModeProxy {
		// Only track_balanced (proxy off) fills mesh_flows: with the
		// proxy, the mesh's connections end at the node proxy and the tc
		// program finds none there, so the map costs one entry.
		spec.Maps[redirectMapMeshFlows].MaxEntries = 1
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("load ebpf datapath: %w", err)
	}
	d := &Datapath{cfg: cfg, coll: coll, tcIfindexes: make(map[int]bool)}
	if cfg.Mode == ModeProxy {
		if err := d.initProxy(); err != nil {
			return nil, errors.Join(err, d.Close())
		}
	}
	return d, nil
}

func (d *Datapath) initProxy() error {
	nc := redirectNodeConfig{ProxyAddr: be32(d.cfg.NodeProxy.Addr()), ProxyPort: d.cfg.NodeProxy.Port()}
	if err := d.coll.Maps[redirectMapNodeConfig].Put(uint32(0), nc); err != nil {
		return fmt.Errorf("configure node proxy %s: %w", d.cfg.NodeProxy, err)
	}
	return d.attachSkMsg()
}

// prune drops from spec the programs not in keep and the maps no kept
// program uses.
func prune(spec *ebpf.CollectionSpec, keep []string) {
	used := make(map[string]bool)
	for name, p := range spec.Programs {
		if !slices.Contains(keep, name) {
			delete(spec.Programs, name)
			continue
		}
		for _, ins := range p.Instructions {
			if ins.IsLoadFromMap() {
				used[ins.Reference()] = true
			}
		}
	}
	for name := range spec.Maps {
		if !used[name] {
			delete(spec.Maps, name)
		}
	}
}

// attachSkMsg uses the classic map attachment rather than a bpf_link (6.10+)
// so that kernels back to 5.10 work; Close detaches it.
func (d *Datapath) attachSkMsg() error {
	err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  d.coll.Maps[redirectMapSockHash].FD(),
		Program: d.coll.Programs[redirectProgRedirectMsg],
		Attach:  ebpf.AttachSkMsgVerdict,
	})
	if err != nil {
		return fmt.Errorf("attach sk_msg to sockhash: %w", err)
	}
	d.skMsg = true
	return nil
}

// AddService makes connect4 act on TCP connections to vip: in ModeProxy it
// sends them to the node proxy and ignores backends (the proxy picks its
// own); in ModeNoProxy it sends each to one of backends, chosen at random.
// Calling it again for the same VIP replaces the backends.
func (d *Datapath) AddService(vip netip.AddrPort, backends []netip.AddrPort) error {
	if !vip.Addr().Is4() {
		return fmt.Errorf("add service %s: only IPv4 VIPs are supported", vip)
	}
	if d.cfg.Mode == ModeNoProxy && len(backends) == 0 {
		return fmt.Errorf("add service %s: no backends, and the proxy is off", vip)
	}
	if len(backends) > 1<<16 {
		return fmt.Errorf("add service %s: %d backends, at most 65536", vip, len(backends))
	}
	key := redirectSvcKey{Addr: be32(vip.Addr()), Port: vip.Port()}
	if d.cfg.Mode == ModeProxy {
		// The proxy picks a backend itself; only the VIP matters here.
		backends = nil
	}
	for i, be := range backends {
		if !be.Addr().Is4() {
			return fmt.Errorf("add service %s: backend %s is not IPv4", vip, be)
		}
		key.Slot = uint16(i)
		ep := redirectEndpoint{Addr: be32(be.Addr()), Port: be.Port()}
		if err := d.coll.Maps[redirectMapBackends].Put(key, ep); err != nil {
			return fmt.Errorf("add service %s backend %s: %w", vip, be, err)
		}
	}
	// Written last, so connect4 never picks a slot that is not there yet.
	key.Slot = 0
	svc := redirectSvc{Backends: uint32(len(backends))}
	if err := d.coll.Maps[redirectMapServices].Put(key, svc); err != nil {
		return fmt.Errorf("add service %s: %w", vip, err)
	}
	return nil
}

// AddPod makes the tc program deliver packets for ip into the pod whose
// node-side veth has index hostIfindex (in the node's namespace), and, in
// ModeProxy, sk_msg carry the bytes of the proxy's connections to ip. The
// tc program delivers only the packets of the connections connect4
// balanced on this datapath, in both directions, whose tuples a sockops
// program records before their SYN: every other packet, such as one of a
// connection opened before the datapath was attached (its replies need the
// node's service NAT reversed) or from a process outside the mesh (the
// node's conntrack must see its whole connection), takes the node's stack. A
// strictPort other than 0 is the pod's application port under strict
// mTLS: TCP to it is left to the node's stack, whose netfilter refuses
// plaintext, instead of being delivered past it.
func (d *Datapath) AddPod(ip netip.Addr, hostIfindex int, strictPort uint16) error {
	if !ip.Is4() {
		return fmt.Errorf("add pod %s: only IPv4 pods are supported", ip)
	}
	if hostIfindex <= 0 {
		return fmt.Errorf("add pod %s: invalid ifindex %d", ip, hostIfindex)
	}
	if err := d.coll.Maps[redirectMapPods].Put(be32(ip), redirectPod{HostIfindex: uint32(hostIfindex), StrictPort: strictPort}); err != nil {
		return fmt.Errorf("add pod %s: %w", ip, err)
	}
	return nil
}

// Counters returns the counters summed over CPUs.
func (d *Datapath) Counters() (Counters, error) {
	var c Counters
	fields := []struct {
		idx redirectCounter
		dst *uint64
	}{
		{redirectCounterCOUNTER_STEERED, &c.Steered},
		{redirectCounterCOUNTER_BALANCED, &c.Balanced},
		{redirectCounterCOUNTER_SOCKETS, &c.Sockets},
		{redirectCounterCOUNTER_MESSAGES, &c.Messages},
		{redirectCounterCOUNTER_BYTES, &c.Bytes},
		{redirectCounterCOUNTER_PEER, &c.PeerRedirected},
		{redirectCounterCOUNTER_ORIG_DST, &c.OrigDst},
		{redirectCounterCOUNTER_LOCAL, &c.LocalSockets},
	}
	var perCPU []uint64
	for _, f := range fields {
		if err := d.coll.Maps[redirectMapCounters].Lookup(f.idx, &perCPU); err != nil {
			return Counters{}, fmt.Errorf("read datapath counter %d: %w", f.idx, err)
		}
		for _, n := range perCPU {
			*f.dst += n
		}
	}
	return c, nil
}

// SourceConnections returns, per source address, how many connections
// connect4 steered from it to the node proxy that established (the
// src_conns map); empty with the proxy off, whose sockops program is not
// loaded.
func (d *Datapath) SourceConnections() (map[netip.Addr]uint64, error) {
	out := map[netip.Addr]uint64{}
	m, ok := d.coll.Maps[redirectMapSrcConns]
	if !ok {
		return out, nil
	}
	var key uint32
	var n uint64
	it := m.Iterate()
	for it.Next(&key, &n) {
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], key)
		out[netip.AddrFrom4(b)] = n
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read per-source connections: %w", err)
	}
	return out, nil
}

// MemoryBytes returns what the datapath's maps and programs cost the kernel:
// the sum of the memlock figures the kernel reports (fdinfo) for each map
// (read-only configuration included) and program this mode loaded.
func (d *Datapath) MemoryBytes() (uint64, error) {
	type memlocker interface{ Memlock() (uint64, bool) }
	var total uint64
	add := func(kind, name string, info memlocker, err error) error {
		if err != nil {
			return fmt.Errorf("read %s %s info: %w", kind, name, err)
		}
		n, ok := info.Memlock()
		if !ok {
			return fmt.Errorf("read %s %s memory: the kernel reports no memlock", kind, name)
		}
		total += n
		return nil
	}
	for name, m := range d.coll.Maps {
		info, err := m.Info()
		if err := add("map", name, info, err); err != nil {
			return 0, err
		}
	}
	for name, p := range d.coll.Programs {
		info, err := p.Info()
		if err := add("program", name, info, err); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// Close detaches every program and frees the maps and programs; it first
// takes every socket out of the sockhash, whose sockets would otherwise keep
// the sk_msg program and its maps loaded until they close.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for i := len(d.links) - 1; i >= 0; i-- {
		errs = append(errs, d.links[i].Close())
	}
	d.links = nil
	if d.skMsg {
		errs = append(errs, emptySockHash(d.coll.Maps[redirectMapSockHash]))
		errs = append(errs, link.RawDetachProgram(link.RawDetachProgramOptions{
			Target:  d.coll.Maps[redirectMapSockHash].FD(),
			Program: d.coll.Programs[redirectProgRedirectMsg],
			Attach:  ebpf.AttachSkMsgVerdict,
		}))
		d.skMsg = false
	}
	d.coll.Close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close ebpf datapath: %w", err)
	}
	return nil
}

// emptySockHash removes every socket from m. A socket in the sockhash
// holds the sk_msg program it was added with, and through it the maps the
// program uses, until it closes or leaves the map: connections that outlive
// the datapath would keep them loaded.
func emptySockHash(m *ebpf.Map) error {
	for {
		var k redirectTuple
		err := m.NextKey(nil, &k)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err == nil {
			err = m.Delete(k)
		}
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("empty the sockhash: %w", err)
		}
	}
}

// be32 returns a as the uint32 whose in-memory bytes are a in network order,
// the way BPF programs see addresses.
func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}
