package pathprobe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
)

// EventType is what crossed the stack.
type EventType uint32

// The events the probe counts; see the package documentation.
const (
	Transmit    = EventType(probeEventTypeEVENT_TRANSMIT)
	Receive     = EventType(probeEventTypeEVENT_RECEIVE)
	SocketSend  = EventType(probeEventTypeEVENT_SOCK_SEND)
	SocketRecv  = EventType(probeEventTypeEVENT_SOCK_RECV)
	RouteLookup = EventType(probeEventTypeEVENT_ROUTE_LOOKUP)
	TransmitAck = EventType(probeEventTypeEVENT_TRANSMIT_ACK)
	ReceiveAck  = EventType(probeEventTypeEVENT_RECEIVE_ACK)
)

var eventNames = map[EventType]string{
	Transmit:    "transmit",
	Receive:     "receive",
	SocketSend:  "socket_send",
	SocketRecv:  "socket_recv",
	RouteLookup: "route_lookup",
	TransmitAck: "transmit_ack",
	ReceiveAck:  "receive_ack",
}

func (t EventType) String() string {
	if name, ok := eventNames[t]; ok {
		return name
	}
	return fmt.Sprintf("event(%d)", uint32(t))
}

// Tracepoints returns the names of the kernel tracepoints the probe uses,
// in the order of the event types (TransmitAck and ReceiveAck come from the
// tracepoints of Transmit and Receive).
func Tracepoints() []string {
	var names []string
	for _, a := range attachments(nil) {
		names = append(names, a.tracepoint)
	}
	return names
}

type attachment struct {
	tracepoint string
	prog       *ebpf.Program
}

// attachments pairs each tracepoint with its program in objs (nil programs
// when objs is nil).
func attachments(objs *objects) []attachment {
	if objs == nil {
		objs = &objects{}
	}
	return []attachment{
		{"net_dev_xmit", objs.OnNetDevXmit},
		{"netif_receive_skb", objs.OnNetifReceiveSkb},
		{"sock_send_length", objs.OnSockSendLength},
		{"sock_recv_length", objs.OnSockRecvLength},
		{"fib_table_lookup", objs.OnFibTableLookup},
		// Reads by splice(2): see on_sys_enter in pathprobe.c.
		{"sys_enter", objs.OnSysEnter},
		{"tcp_rcv_space_adjust", objs.OnTcpRcvSpaceAdjust},
		{"sys_exit", objs.OnSysExit},
		// Whether a traced event ran in a softirq: see event_context.
		{"softirq_entry", objs.OnSoftirqEntry},
		{"softirq_exit", objs.OnSoftirqExit},
	}
}

// objects are the loaded programs and maps. The generated probeObjects also
// holds the data-section variables, which cilium/ebpf memory-maps until the
// garbage collector runs, keeping their maps alive after Close; the probe
// uses none, so they are not loaded.
type objects struct {
	probePrograms
	probeMaps
}

func (o *objects) close() error {
	return errors.Join(o.probePrograms.Close(), o.probeMaps.Close())
}

// Key identifies one counter.
type Key struct {
	// Netns is the inode number of the network namespace.
	Netns uint64
	// Ifindex is the device in that namespace; 0 for socket events on
	// unbound sockets.
	Ifindex uint32
	Event   EventType
}

// Event is one step of a traced request, in the order the kernel saw them.
type Event struct {
	// Time is CLOCK_MONOTONIC (time since boot, without suspend).
	Time    time.Duration
	Netns   uint64
	Ifindex uint32
	Type    EventType
	// Len is the packet length for device events (with the link-layer
	// header on transmit, without on receive), the bytes moved for socket
	// events, and 0 for route lookups.
	Len uint32
	CPU uint32
	// Context is where the kernel did the work: for a task (Pid, Cgroup
	// and Comm say which), or in a softirq or kernel thread, for none.
	Context Context
	// Pid is the task's thread group (process) id, Cgroup its cgroup v2
	// id (the inode of its cgroup directory) and Comm its name; zero
	// unless Context is TaskContext.
	Pid    uint32 `json:",omitempty"`
	Cgroup uint64 `json:",omitempty"`
	Comm   string `json:",omitempty"`
}

// Context is where the kernel recorded an event.
type Context uint32

// The contexts of events. The kernel transmits a sender's packet, and
// moves a socket call's bytes, in the sending task; it receives and
// forwards packets in softirqs, which run on behalf of no task whichever
// task they interrupted, or in kernel threads.
const (
	TaskContext    = Context(probeEventContextCONTEXT_TASK)
	SoftirqContext = Context(probeEventContextCONTEXT_SOFTIRQ)
	KthreadContext = Context(probeEventContextCONTEXT_KTHREAD)
)

func (c Context) String() string {
	switch c {
	case TaskContext:
		return "task"
	case SoftirqContext:
		return "softirq"
	case KthreadContext:
		return "kthread"
	}
	return fmt.Sprintf("context(%d)", uint32(c))
}

// Probe is a loaded packet-path probe. It is not safe for concurrent use.
type Probe struct {
	objs   objects
	links  []link.Link
	events *ringbuf.Reader
}

// Netns is a network namespace the probe watches.
type Netns struct {
	// Inode identifies the namespace (see [NetnsInode]).
	Inode uint64
	// Loopback counts traffic between loopback addresses (127.0.0.0/8)
	// when the probe filters addresses: a pod's processes talk over lo (a
	// sidecar's legs to its application), a node's do not for a request
	// (but the container runtime's streaming server does).
	Loopback bool
}

// The bits of the C enum netns_flag, the value of the netns_filter map.
const (
	netnsCountLoopback   uint8 = 1 << 0
	netnsFilterAddresses uint8 = 1 << 1
)

// Load loads the probe's programs and maps, watching only the given network
// namespaces; it does not attach them yet. With prefixes, the probe counts
// only the traffic between addresses that lie in them (and between loopback
// addresses in namespaces flagged Loopback): packets by their IPv4 header,
// socket calls by the addresses of TCP and UDP sockets over IPv4, and route
// lookups by their destination and source, if they have one. Without
// prefixes it counts every IPv4 packet, socket call and route lookup of the
// namespaces.
//
// The error wraps [ebpf.ErrNotSupported] and names what is missing when the
// kernel lacks BTF or one of the tracepoints; a kernel that refuses tp_btf
// programs fails with the verifier's or the kernel's error.
func Load(nss []Netns, prefixes []netip.Prefix) (*Probe, error) {
	if len(nss) == 0 {
		return nil, errors.New("load path probe: no network namespaces to watch")
	}
	for _, p := range prefixes {
		if !p.IsValid() || !p.Addr().Is4() {
			return nil, fmt.Errorf("load path probe: address filter %s: want an IPv4 prefix", p)
		}
	}
	if err := supported(); err != nil {
		return nil, err
	}
	spec, err := loadProbe()
	if err != nil {
		return nil, fmt.Errorf("load path probe spec: %w", err)
	}
	p := &Probe{}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("load path probe: %w", err)
	}
	if err := p.init(nss, prefixes); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

func (p *Probe) init(nss []Netns, prefixes []netip.Prefix) error {
	if err := p.objs.SpliceState.Put(probeSpliceSlotSPLICE_SYSCALL, uint64(syscall.SYS_SPLICE)); err != nil {
		return fmt.Errorf("path probe splice syscall number: %w", err)
	}
	for _, pfx := range prefixes {
		key := probeIpv4Prefix{Prefixlen: uint32(pfx.Bits()), Addr: pfx.Masked().Addr().As4()}
		if err := p.objs.AddressFilter.Put(key, uint8(1)); err != nil {
			return fmt.Errorf("path probe address filter %s: %w", pfx, err)
		}
	}
	for _, ns := range nss {
		var flags uint8
		if ns.Loopback {
			flags |= netnsCountLoopback
		}
		if len(prefixes) > 0 {
			flags |= netnsFilterAddresses
		}
		if err := p.objs.NetnsFilter.Put(ns.Inode, flags); err != nil {
			return fmt.Errorf("watch network namespace %d: %w", ns.Inode, err)
		}
	}
	rd, err := ringbuf.NewReader(p.objs.Events)
	if err != nil {
		return fmt.Errorf("open path probe ring buffer: %w", err)
	}
	p.events = rd
	return nil
}

func supported() error {
	// features.HaveProgramType(ebpf.Tracing) probes with an fentry
	// program, which some kernels refuse (EPERM) while tp_btf loads fine;
	// loading the real programs is the test for tp_btf.
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return fmt.Errorf("path probe needs kernel BTF (/sys/kernel/btf/vmlinux): %w: %w", err, ebpf.ErrNotSupported)
	}
	var missing []string
	for _, tp := range Tracepoints() {
		var typedef *btf.Typedef
		if err := kernel.TypeByName("btf_trace_"+tp, &typedef); err != nil {
			missing = append(missing, tp)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("path probe: kernel lacks tracepoints %s: %w", strings.Join(missing, ", "), ebpf.ErrNotSupported)
	}
	return nil
}

// Attach attaches every program to its tracepoint. Counting starts now.
func (p *Probe) Attach() error {
	if len(p.links) > 0 {
		return errors.New("attach path probe: already attached")
	}
	for _, a := range attachments(&p.objs) {
		l, err := link.AttachTracing(link.TracingOptions{
			Program:    a.prog,
			AttachType: ebpf.AttachTraceRawTp,
		})
		if err != nil {
			return fmt.Errorf("attach path probe to tracepoint %s: %w", a.tracepoint, err)
		}
		p.links = append(p.links, l)
	}
	return nil
}

// Counts returns the counters summed over CPUs. Counters that never fired
// are absent.
func (p *Probe) Counts() (map[Key]uint64, error) {
	out := make(map[Key]uint64)
	var (
		key    probeCountKey
		perCPU []uint64
	)
	it := p.objs.Counts.Iterate()
	for it.Next(&key, &perCPU) {
		var sum uint64
		for _, n := range perCPU {
			sum += n
		}
		out[Key{Netns: key.Netns, Ifindex: key.Ifindex, Event: EventType(key.Event)}] = sum
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read path probe counts: %w", err)
	}
	return out, nil
}

// Reset zeroes all counters.
func (p *Probe) Reset() error {
	counts := p.objs.Counts
	var (
		key    probeCountKey
		perCPU []uint64
		keys   []probeCountKey
	)
	it := counts.Iterate()
	for it.Next(&key, &perCPU) {
		keys = append(keys, key)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reset path probe counts: %w", err)
	}
	for _, k := range keys {
		if err := counts.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("reset path probe counts: %w", err)
		}
	}
	return nil
}

// StartTrace starts recording every counted event in order. Keep the traced
// window short: the ring buffer holds about 26,000 events.
func (p *Probe) StartTrace() error {
	// Records submitted after the previous StopTrace drained the ring
	// belong to no trace.
	if _, err := p.drain(); err != nil {
		return fmt.Errorf("start trace: %w", err)
	}
	if err := p.objs.Trace.Put(probeTraceSlotTRACE_DROPPED, uint64(0)); err != nil {
		return fmt.Errorf("start trace: %w", err)
	}
	if err := p.objs.Trace.Put(probeTraceSlotTRACE_ON, uint64(1)); err != nil {
		return fmt.Errorf("start trace: %w", err)
	}
	return nil
}

// StopTrace stops recording and returns the recorded events in order. It
// fails, returning the events it has, when the ring buffer overflowed.
func (p *Probe) StopTrace() ([]Event, error) {
	if err := p.objs.Trace.Put(probeTraceSlotTRACE_ON, uint64(0)); err != nil {
		return nil, fmt.Errorf("stop trace: %w", err)
	}
	events, err := p.drain()
	if err != nil {
		return events, fmt.Errorf("stop trace: %w", err)
	}
	var dropped uint64
	if err := p.objs.Trace.Lookup(probeTraceSlotTRACE_DROPPED, &dropped); err != nil {
		return events, fmt.Errorf("stop trace: %w", err)
	}
	if dropped > 0 {
		return events, fmt.Errorf("stop trace: ring buffer full, %d events lost", dropped)
	}
	return events, nil
}

// drain reads every record in the ring buffer without waiting for more.
func (p *Probe) drain() ([]Event, error) {
	p.events.SetDeadline(time.Now())
	var (
		out []Event
		rec ringbuf.Record
		raw probeEvent
	)
	for {
		err := p.events.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read ring buffer: %w", err)
		}
		if _, err := binary.Decode(rec.RawSample, binary.NativeEndian, &raw); err != nil {
			return out, fmt.Errorf("decode trace event: %w", err)
		}
		out = append(out, Event{
			Time:    time.Duration(raw.TimeNs),
			Netns:   raw.Netns,
			Ifindex: raw.Ifindex,
			Type:    EventType(raw.Type),
			Len:     raw.Len,
			CPU:     raw.Cpu,
			Context: Context(raw.Context),
			Pid:     raw.Pid,
			Cgroup:  raw.Cgroup,
			Comm:    comm(raw.Comm),
		})
	}
}

// comm is a task name as the kernel stores it, NUL-terminated.
func comm(raw [16]int8) string {
	b := make([]byte, 0, len(raw))
	for _, c := range raw {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// Close detaches the programs and frees the maps and programs.
func (p *Probe) Close() error {
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	if p.events != nil {
		errs = append(errs, p.events.Close())
		p.events = nil
	}
	errs = append(errs, p.objs.close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close path probe: %w", err)
	}
	return nil
}

// NetnsInode returns the inode number that identifies the network namespace
// at path (a bind mount such as /run/netns/NAME or /proc/PID/ns/net).
func NetnsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat network namespace %s: %w", path, err)
	}
	return st.Ino, nil
}
