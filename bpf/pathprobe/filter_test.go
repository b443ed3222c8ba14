package pathprobe_test

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/internal/bpftest"
	"github.com/meshbench/meshbench/internal/testutil"
)

// TestAddressFilter runs traffic in two watched namespaces, once between
// addresses outside the probe's address filter and once between addresses
// inside it and over loopback, and compares a filtering probe with one that
// counts everything: outside traffic and loopback in a namespace not
// flagged for it are left out, the rest counts.
func TestAddressFilter(t *testing.T) {
	pr := newPair(t) // 10.203.0.1/24 on veth-a, 10.203.0.2/24 on veth-b
	// A second subnet on the same veth, outside the filter.
	for _, end := range []struct {
		ns   *bpftest.Netns
		dev  string
		addr string
	}{{pr.a, "veth-a", "10.204.0.1/24"}, {pr.b, "veth-b", "10.204.0.2/24"}} {
		h := end.ns.Netlink(t)
		l, err := h.LinkByName(end.dev)
		if err != nil {
			t.Fatal(err)
		}
		addr, err := netlink.ParseAddr(end.addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.AddrAdd(l, addr); err != nil {
			t.Fatalf("add %s to %s: %v", end.addr, end.dev, err)
		}
	}
	const lo = 1 // loopback's ifindex in every namespace
	all := load(t, watch(pr.aIno, pr.bIno))
	filtered := load(t, []pathprobe.Netns{{Inode: pr.aIno, Loopback: true}, {Inode: pr.bIno}},
		netip.MustParsePrefix("10.203.0.0/24"))
	const requests = 10

	t.Run("outside the filter", func(t *testing.T) {
		reset(t, all, filtered)
		conn := echoConn(t, pr.a, addrOf(testutil.ListenEcho(t, pr.b.Path, "tcp4", "10.204.0.2:0")))
		for range requests {
			exchange(t, conn)
		}
		if got := counts(t, all)[pathprobe.Key{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.Transmit}]; got < requests {
			t.Fatalf("unfiltered probe counted %d transmits on veth-a, want >= %d: the traffic did not happen", got, requests)
		}
		for k, n := range counts(t, filtered) {
			t.Errorf("filtered probe counted %+v = %d, want nothing", k, n)
		}
	})

	t.Run("inside the filter and loopback", func(t *testing.T) {
		reset(t, all, filtered)
		// A dual-stack listener accepts IPv4 clients on AF_INET6 sockets
		// with IPv4-mapped addresses, as Go servers listening on ":port" do.
		server := testutil.ListenEcho(t, pr.b.Path, "tcp", ":0")
		if d := domain(t, server); d != syscall.AF_INET6 {
			t.Fatalf("listener on :0 is of address family %d, want AF_INET6 (dual stack)", d)
		}
		conn := echoConn(t, pr.a, netip.AddrPortFrom(netip.MustParseAddr("10.203.0.2"), addrOf(server).Port()))
		loA := echoConn(t, pr.a, addrOf(testutil.ListenEcho(t, pr.a.Path, "tcp4", "127.0.0.1:0")))
		loB := echoConn(t, pr.b, addrOf(testutil.ListenEcho(t, pr.b.Path, "tcp4", "127.0.0.1:0")))
		for range requests {
			exchange(t, conn)
			exchange(t, loA)
			exchange(t, loB)
		}
		if got := counts(t, all)[pathprobe.Key{Netns: pr.bIno, Ifindex: lo, Event: pathprobe.Transmit}]; got < requests {
			t.Fatalf("unfiltered probe counted %d transmits on b's lo, want >= %d: the traffic did not happen", got, requests)
		}
		got := counts(t, filtered)
		// All route lookups on the veths are the run's: the filter must
		// keep each, also connect's first, made before the socket had a
		// source address. (Packets may still be in flight, so device
		// and socket counts are only compared with a lower bound.)
		unfiltered := counts(t, all)
		for _, k := range []pathprobe.Key{
			{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.RouteLookup},
			{Netns: pr.bIno, Ifindex: pr.bIndex, Event: pathprobe.RouteLookup},
		} {
			if got[k] != unfiltered[k] {
				t.Errorf("count[%+v] = %d, want %d as without the filter", k, got[k], unfiltered[k])
			}
		}
		for _, tt := range []struct {
			name string
			key  pathprobe.Key
			want uint64
		}{
			{"client transmits", pathprobe.Key{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.Transmit}, requests},
			{"server receives", pathprobe.Key{Netns: pr.bIno, Ifindex: pr.bIndex, Event: pathprobe.Receive}, requests},
			{"server transmits", pathprobe.Key{Netns: pr.bIno, Ifindex: pr.bIndex, Event: pathprobe.Transmit}, requests},
			{"client receives", pathprobe.Key{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.Receive}, requests},
			// b's only counted sockets are the IPv4-mapped server's.
			{"server reads", pathprobe.Key{Netns: pr.bIno, Event: pathprobe.SocketRecv}, requests},
			{"server sends", pathprobe.Key{Netns: pr.bIno, Event: pathprobe.SocketSend}, requests},
			{"client sends", pathprobe.Key{Netns: pr.aIno, Event: pathprobe.SocketSend}, requests},
			// connect looks the route up before it has a source address.
			{"client route lookup", pathprobe.Key{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.RouteLookup}, 1},
			{"loopback in a, flagged", pathprobe.Key{Netns: pr.aIno, Ifindex: lo, Event: pathprobe.Transmit}, requests},
		} {
			if got[tt.key] < tt.want {
				t.Errorf("%s: count[%+v] = %d, want >= %d", tt.name, tt.key, got[tt.key], tt.want)
			}
		}
		for k, n := range got {
			if k.Netns == pr.bIno && k.Ifindex == lo {
				t.Errorf("count[%+v] = %d: loopback of a namespace not flagged for it", k, n)
			}
		}
		// Every counted socket call of b is the server's: its requests
		// and echoes, not the loopback echo's as well.
		if n := got[pathprobe.Key{Netns: pr.bIno, Event: pathprobe.SocketRecv}]; n >= 2*requests {
			t.Errorf("b's socket reads = %d, want < %d: loopback sockets of b counted", n, 2*requests)
		}
	})
}

func reset(tb testing.TB, probes ...*pathprobe.Probe) {
	tb.Helper()
	for _, p := range probes {
		if err := p.Reset(); err != nil {
			tb.Fatalf("Reset: %v", err)
		}
	}
}

// echoConn dials an echo server at addr from ns; the connection is closed
// at cleanup.
func echoConn(tb testing.TB, ns *bpftest.Netns, addr netip.AddrPort) net.Conn {
	tb.Helper()
	var conn net.Conn
	if err := ns.Do(func() error {
		var err error
		conn, err = net.DialTimeout("tcp4", addr.String(), 2*time.Second)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

func addrOf(ln *net.TCPListener) netip.AddrPort { return ln.Addr().(*net.TCPAddr).AddrPort() }

// domain returns the address family of ln's socket.
func domain(tb testing.TB, ln *net.TCPListener) int {
	tb.Helper()
	raw, err := ln.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var d int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		d, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN)
	}); err != nil {
		tb.Fatal(err)
	}
	if serr != nil {
		tb.Fatalf("getsockopt SO_DOMAIN: %v", serr)
	}
	return d
}
