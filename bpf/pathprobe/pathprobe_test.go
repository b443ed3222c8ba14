package pathprobe_test

import (
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/internal/bpftest"
	"github.com/meshbench/meshbench/internal/hostfs"
	"github.com/meshbench/meshbench/internal/testutil"
)

// pair is two throwaway namespaces joined by a veth, with an echo server
// listening in b and, after dial, a connected client in a.
type pair struct {
	a, b           *bpftest.Netns
	aIndex, bIndex uint32
	aIno, bIno     uint64
	conn           net.Conn
}

func newPair(tb testing.TB) *pair {
	tb.Helper()
	testutil.Privileged(tb)
	p := &pair{a: bpftest.NewNetns(tb), b: bpftest.NewNetns(tb)}
	ai, bi := bpftest.Veth(tb, p.a, "veth-a", netip.MustParsePrefix("10.203.0.1/24"),
		p.b, "veth-b", netip.MustParsePrefix("10.203.0.2/24"))
	p.aIndex, p.bIndex = uint32(ai), uint32(bi)
	p.aIno, p.bIno = inode(tb, p.a.Path), inode(tb, p.b.Path)

	testutil.ListenEcho(tb, p.b.Path, "tcp4", "10.203.0.2:8080")
	return p
}

// dial connects the client.
func (p *pair) dial(tb testing.TB) {
	tb.Helper()
	if err := p.a.Do(func() error {
		var err error
		p.conn, err = net.DialTimeout("tcp4", "10.203.0.2:8080", 2*time.Second)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.conn.Close() })
}

// roundTrip sends one request and waits for its echo.
func (p *pair) roundTrip(tb testing.TB) {
	tb.Helper()
	exchange(tb, p.conn)
}

// exchange sends one request on conn and waits for its echo.
func exchange(tb testing.TB, conn net.Conn) {
	tb.Helper()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	msg := []byte("GET / HTTP/1.1\r\n\r\n")
	if _, err := conn.Write(msg); err != nil {
		tb.Fatalf("write: %v", err)
	}
	if _, err := io.ReadFull(conn, make([]byte, len(msg))); err != nil {
		tb.Fatalf("read echo: %v", err)
	}
}

func inode(tb testing.TB, path string) uint64 {
	tb.Helper()
	ino, err := pathprobe.NetnsInode(path)
	if err != nil {
		tb.Fatal(err)
	}
	return ino
}

// watch lists namespaces for Load, none counting loopback.
func watch(inodes ...uint64) []pathprobe.Netns {
	var out []pathprobe.Netns
	for _, ino := range inodes {
		out = append(out, pathprobe.Netns{Inode: ino})
	}
	return out
}

// load loads and attaches a probe, closed at cleanup.
func load(tb testing.TB, nss []pathprobe.Netns, prefixes ...netip.Prefix) *pathprobe.Probe {
	tb.Helper()
	p, err := pathprobe.Load(nss, prefixes)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	if err := p.Attach(); err != nil {
		tb.Fatalf("Attach: %v", err)
	}
	return p
}

func counts(tb testing.TB, p *pathprobe.Probe) map[pathprobe.Key]uint64 {
	tb.Helper()
	c, err := p.Counts()
	if err != nil {
		tb.Fatalf("Counts: %v", err)
	}
	return c
}

func TestCountsWatchedNamespacesOnly(t *testing.T) {
	pr := newPair(t)
	both := load(t, watch(pr.aIno, pr.bIno))
	onlyA := load(t, watch(pr.aIno))
	host := inode(t, "/proc/self/ns/net")
	pr.dial(t)

	const requests = 10
	for range requests {
		pr.roundTrip(t)
	}
	hostLoopback(t)

	got := counts(t, both)
	atLeast := []struct {
		name string
		key  pathprobe.Key
		want uint64
	}{
		{"client transmits", pathprobe.Key{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.Transmit}, requests},
		{"server receives", pathprobe.Key{Netns: pr.bIno, Ifindex: pr.bIndex, Event: pathprobe.Receive}, requests},
		{"server transmits", pathprobe.Key{Netns: pr.bIno, Ifindex: pr.bIndex, Event: pathprobe.Transmit}, requests},
		{"client receives", pathprobe.Key{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.Receive}, requests},
		{"client sends", pathprobe.Key{Netns: pr.aIno, Event: pathprobe.SocketSend}, requests},
		{"server reads", pathprobe.Key{Netns: pr.bIno, Event: pathprobe.SocketRecv}, requests},
		{"server sends", pathprobe.Key{Netns: pr.bIno, Event: pathprobe.SocketSend}, requests},
		{"client reads", pathprobe.Key{Netns: pr.aIno, Event: pathprobe.SocketRecv}, requests},
		// The connection caches its route after connect's lookup.
		{"client route lookup", pathprobe.Key{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.RouteLookup}, 1},
	}
	for _, tt := range atLeast {
		t.Run(tt.name, func(t *testing.T) {
			if got[tt.key] < tt.want {
				t.Errorf("count[%+v] = %d, want >= %d", tt.key, got[tt.key], tt.want)
			}
		})
	}
	for k, n := range got {
		if k.Netns != pr.aIno && k.Netns != pr.bIno {
			t.Errorf("count[%+v] = %d: namespace not watched (host is %d)", k, n, host)
		}
	}
	for k, n := range counts(t, onlyA) {
		if k.Netns != pr.aIno {
			t.Errorf("probe watching only %d counted %+v = %d", pr.aIno, k, n)
		}
	}

	if err := both.Reset(); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if got := counts(t, both); len(got) != 0 {
		t.Errorf("after Reset, Counts() = %v, want none", got)
	}
}

// hostLoopback makes TCP traffic on the host's loopback, which a probe must
// not count.
func hostLoopback(tb testing.TB) {
	tb.Helper()
	ln := testutil.ListenEcho(tb, "", "tcp4", "127.0.0.1:0")
	conn, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("host")); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, 4)); err != nil {
		tb.Fatal(err)
	}
}

func TestTraceOrderedPath(t *testing.T) {
	pr := newPair(t)
	p := load(t, watch(pr.aIno, pr.bIno))
	pr.dial(t)
	pr.roundTrip(t) // warm: neighbours resolved, route cached

	if err := p.StartTrace(); err != nil {
		t.Fatal(err)
	}
	pr.roundTrip(t)
	events, err := p.StopTrace()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		t.Logf("%12v netns %d if %d %-12s %d bytes", e.Time, e.Netns, e.Ifindex, e.Type, e.Len)
	}

	// The request and its echo must appear in this order, whatever ACKs
	// and the sender's own socket_send (recorded when sendmsg returns)
	// interleave.
	want := []struct {
		netns uint64
		typ   pathprobe.EventType
	}{
		{pr.aIno, pathprobe.Transmit},
		{pr.bIno, pathprobe.Receive},
		{pr.bIno, pathprobe.SocketRecv},
		{pr.bIno, pathprobe.Transmit},
		{pr.aIno, pathprobe.Receive},
		{pr.aIno, pathprobe.SocketRecv},
	}
	i := 0
	for _, e := range events {
		if i < len(want) && e.Netns == want[i].netns && e.Type == want[i].typ {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("trace lacks step %d (%s in netns %d) of the request's path", i, want[i].typ, want[i].netns)
	}

	if err := p.StartTrace(); err != nil {
		t.Fatal(err)
	}
	if got, err := p.StopTrace(); err != nil || len(got) != 0 {
		t.Errorf("idle trace = %d events (err %v), want none", len(got), err)
	}
}

// TestTraceContext checks who the trace says caused each event: socket
// calls and the client's transmit are this test process's (its pid, cgroup
// and name), receives ran in a softirq and name no task, although the
// softirq ran while this process was sending.
func TestTraceContext(t *testing.T) {
	pr := newPair(t)
	p := load(t, watch(pr.aIno, pr.bIno))
	pr.dial(t)
	pr.roundTrip(t)
	if err := p.StartTrace(); err != nil {
		t.Fatal(err)
	}
	pr.roundTrip(t)
	events, err := p.StopTrace()
	if err != nil {
		t.Fatal(err)
	}
	self := selfCgroup(t)
	var sockets, receives int
	for _, e := range events {
		t.Logf("%-12s netns %d %-8s pid %d cgroup %d %q", e.Type, e.Netns, e.Context, e.Pid, e.Cgroup, e.Comm)
		switch e.Type {
		case pathprobe.SocketSend, pathprobe.SocketRecv:
			sockets++
			if e.Context != pathprobe.TaskContext || int(e.Pid) != os.Getpid() || e.Cgroup != self || e.Comm == "" {
				t.Errorf("%s: context %s pid %d cgroup %d comm %q, want task, pid %d, cgroup %d and a name",
					e.Type, e.Context, e.Pid, e.Cgroup, e.Comm, os.Getpid(), self)
			}
		case pathprobe.Receive:
			receives++
			if e.Context != pathprobe.SoftirqContext || e.Pid != 0 || e.Cgroup != 0 || e.Comm != "" {
				t.Errorf("receive: context %s pid %d cgroup %d comm %q, want softirq and no task", e.Context, e.Pid, e.Cgroup, e.Comm)
			}
		}
	}
	if sockets == 0 || receives == 0 {
		t.Errorf("trace has %d socket events and %d receives, want some of each", sockets, receives)
	}
}

// selfCgroupPath returns this process's cgroup v2 path.
func selfCgroupPath(tb testing.TB) string {
	tb.Helper()
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		tb.Fatal(err)
	}
	v2, _ := hostfs.ParseProcCgroup(string(raw))
	return v2
}

// selfCgroup returns the cgroup v2 id of this process's cgroup: the inode
// of its directory.
func selfCgroup(tb testing.TB) uint64 {
	tb.Helper()
	cg, err := hostfs.DetectCgroups()
	if err != nil {
		tb.Fatalf("find the cgroup2 mount: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(cg.Dir(selfCgroupPath(tb)), &st); err != nil {
		tb.Fatal(err)
	}
	return st.Ino
}

func TestLoadArguments(t *testing.T) {
	if _, err := pathprobe.Load(nil, nil); err == nil {
		t.Error("Load without namespaces succeeded, want an error")
	}
	_, err := pathprobe.Load(watch(1), []netip.Prefix{netip.MustParsePrefix("fd00::/64")})
	if err == nil || !strings.Contains(err.Error(), "want an IPv4 prefix") {
		t.Errorf("Load with an IPv6 prefix: got error %v, want one about IPv4", err)
	}
}

func TestTracepoints(t *testing.T) {
	want := []string{"net_dev_xmit", "netif_receive_skb", "sock_send_length", "sock_recv_length", "fib_table_lookup",
		"sys_enter", "tcp_rcv_space_adjust", "sys_exit", "softirq_entry", "softirq_exit"}
	got := pathprobe.Tracepoints()
	if len(got) != len(want) {
		t.Fatalf("Tracepoints() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Tracepoints()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestEventTypeString(t *testing.T) {
	tests := []struct {
		typ  pathprobe.EventType
		want string
	}{
		{pathprobe.Transmit, "transmit"},
		{pathprobe.Receive, "receive"},
		{pathprobe.SocketSend, "socket_send"},
		{pathprobe.SocketRecv, "socket_recv"},
		{pathprobe.RouteLookup, "route_lookup"},
		{pathprobe.TransmitAck, "transmit_ack"},
		{pathprobe.ReceiveAck, "receive_ack"},
		{pathprobe.EventType(99), "event(99)"},
	}
	for _, tt := range tests {
		if got := tt.typ.String(); got != tt.want {
			t.Errorf("EventType(%d).String() = %q, want %q", uint32(tt.typ), got, tt.want)
		}
	}
}
