package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const loopback = "127.0.0.1:0"

// chain is a path of proxies from an application to dst.
type chain struct {
	name string
	// build starts the proxies and returns where the application connects
	// (the end of its redirect) and the proxies, client side first.
	build func(tb testing.TB, mode Mode, dst netip.AddrPort) (netip.AddrPort, []*Proxy)
}

var chains = []chain{
	{"outbound", func(tb testing.TB, mode Mode, dst netip.AddrPort) (netip.AddrPort, []*Proxy) {
		a := startProxy(tb, Config{Mode: mode, Outbound: loopback, OrigDst: fixedDst(dst)})
		return a.Addrs().Outbound, []*Proxy{a}
	}},
	{"inbound", func(tb testing.TB, mode Mode, dst netip.AddrPort) (netip.AddrPort, []*Proxy) {
		a := startProxy(tb, Config{Mode: mode, Inbound: loopback, OrigDst: fixedDst(dst)})
		return a.Addrs().Inbound, []*Proxy{a}
	}},
	{"sidecar pair", func(tb testing.TB, mode Mode, dst netip.AddrPort) (netip.AddrPort, []*Proxy) {
		b := startProxy(tb, Config{Mode: mode, Inbound: loopback, OrigDst: fixedDst(dst)})
		a := startProxy(tb, Config{Mode: mode, Outbound: loopback, OrigDst: fixedDst(b.Addrs().Inbound)})
		return a.Addrs().Outbound, []*Proxy{a, b}
	}},
	{"tunnel pair", func(tb testing.TB, mode Mode, dst netip.AddrPort) (netip.AddrPort, []*Proxy) {
		b := startProxy(tb, Config{Mode: mode, Tunnel: loopback, Services: tableOf(dst)})
		a := startProxy(tb, Config{Mode: mode, Outbound: loopback, OrigDst: fixedDst(dst),
			Peer: func(netip.AddrPort) Hop { return Hop{Addr: b.Addrs().Tunnel, Tunnel: true} }})
		return a.Addrs().Outbound, []*Proxy{a, b}
	}},
	{"mtls tunnel pair", func(tb testing.TB, mode Mode, dst netip.AddrPort) (netip.AddrPort, []*Proxy) {
		m := newMesh(tb)
		b := startProxy(tb, Config{Mode: mode, Tunnel: loopback, Services: tableOf(dst), TLS: m.tls(tb, "server", time.Hour, "client")})
		a := startProxy(tb, Config{Mode: mode, Outbound: loopback, OrigDst: fixedDst(dst),
			TLS:  m.tls(tb, "client", time.Hour),
			Peer: func(netip.AddrPort) Hop { return Hop{Addr: b.Addrs().Tunnel, Tunnel: true, Identity: "server"} }})
		return a.Addrs().Outbound, []*Proxy{a, b}
	}},
}

func TestRoundTrip(t *testing.T) {
	requests := []struct{ method, path, body, want string }{
		{"GET", "/a", "", "GET /a "},
		{"POST", "/b", "hello", "POST /b hello"},
		{"GET", "/c", "", "GET /c "},
	}
	for _, mode := range []Mode{L4, L7} {
		for _, c := range chains {
			t.Run(string(mode)+"/"+c.name, func(t *testing.T) {
				srv := newEchoServer(t)
				entry, proxies := c.build(t, mode, srv.addr)
				client := clientVia(t, entry, true)
				for _, r := range requests {
					got, err := get(t, client, srv.addr, r.method, r.path, r.body)
					if err != nil || got != r.want {
						t.Errorf("%s %s: got %q, %v; want %q", r.method, r.path, got, err, r.want)
					}
				}
				for i, p := range proxies {
					st := p.Stats()
					if accepted := st[StatConnsOutbound] + st[StatConnsInbound] + st[StatTunnels]; accepted == 0 {
						t.Errorf("proxy %d accepted no connection: %v", i, st)
					}
					if st[StatErrors] != 0 {
						t.Errorf("proxy %d: got %d errors, want 0", i, st[StatErrors])
					}
					if mode == L7 && st[StatRequests] != uint64(len(requests)) {
						t.Errorf("proxy %d: got %d requests, want %d", i, st[StatRequests], len(requests))
					}
				}
			})
		}
	}
}

// countServer reads a connection to its end, then answers how many bytes it
// read and closes: it needs half-close to work.
func countServer(tb testing.TB) netip.AddrPort {
	tb.Helper()
	ln, err := net.Listen("tcp4", loopback)
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				fmt.Fprintf(c, "read %d bytes", n)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func TestL4HalfClose(t *testing.T) {
	payload := strings.Repeat("x", 3<<20) // several splice steps
	for _, c := range chains {
		t.Run(c.name, func(t *testing.T) {
			entry, proxies := c.build(t, L4, countServer(t))
			conn, err := net.Dial("tcp4", entry.String())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, payload); err != nil {
				t.Fatalf("write: %v", err)
			}
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatalf("close write: %v", err)
			}
			reply, err := io.ReadAll(conn)
			want := fmt.Sprintf("read %d bytes", len(payload))
			if err != nil || string(reply) != want {
				t.Fatalf("got %q, %v; want %q", reply, err, want)
			}
			// The first proxy counted both directions before passing
			// each end on.
			st := proxies[0].Stats()
			if st[StatBytesUp] != uint64(len(payload)) || st[StatBytesDown] != uint64(len(want)) {
				t.Errorf("got bytes up %d, down %d; want %d, %d", st[StatBytesUp], st[StatBytesDown], len(payload), len(want))
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(tb testing.TB) netip.AddrPort {
	tb.Helper()
	ln, err := net.Listen("tcp4", loopback)
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return addr
}

// waitStats polls p's stats until they hold want, failing after a while.
func waitStats(tb testing.TB, p *Proxy, want map[string]uint64) {
	tb.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := p.Stats()
		var diff []string
		for k, v := range want {
			if got[k] != v {
				diff = append(diff, fmt.Sprintf("%s: got %d, want %d", k, got[k], v))
			}
		}
		if len(diff) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("stats differ:\n%s\nall: %v", strings.Join(diff, "\n"), got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCounters(t *testing.T) {
	srv := newEchoServer(t)
	down := closedAddr(t)
	tests := []struct {
		name     string
		mode     Mode
		dst      netip.AddrPort
		requests int
		wantErr  bool
		want     map[string]uint64
	}{
		{"l7 keep-alive", L7, srv.addr, 5, false, map[string]uint64{
			StatConnsOutbound: 1, StatRequests: 5, StatUpstreamConns: 1, StatErrors: 0, StatEndpoints: 1,
			UpstreamKey(srv.addr, "requests"): 5, UpstreamKey(srv.addr, "conns"): 1,
		}},
		{"l4 keep-alive", L4, srv.addr, 5, false, map[string]uint64{
			StatConnsOutbound: 1, StatRequests: 0, StatUpstreamConns: 1, StatErrors: 0,
			UpstreamKey(srv.addr, "conns"): 1,
		}},
		{"l7 dial error", L7, down, 1, true, map[string]uint64{
			StatConnsOutbound: 1, StatRequests: 1, StatUpstreamConns: 0, StatErrors: 1, StatDialErrors: 1,
			UpstreamKey(down, "requests"): 1, UpstreamKey(down, "errors"): 2,
		}},
		{"l4 dial error", L4, down, 1, true, map[string]uint64{
			StatConnsOutbound: 1, StatUpstreamConns: 0, StatErrors: 1, StatDialErrors: 1,
			UpstreamKey(down, "errors"): 1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, Config{Mode: tt.mode, Outbound: loopback, OrigDst: fixedDst(tt.dst)})
			client := clientVia(t, p.Addrs().Outbound, true)
			for i := range tt.requests {
				_, err := get(t, client, tt.dst, "GET", fmt.Sprintf("/%d", i), "")
				if (err != nil) != tt.wantErr {
					t.Fatalf("request %d: got error %v, want error %v", i, err, tt.wantErr)
				}
			}
			waitStats(t, p, tt.want)
			if st := p.Stats(); !tt.wantErr && (st[StatBytesUp] == 0 || st[StatBytesDown] == 0) && tt.mode == L7 {
				t.Errorf("got bytes up %d, down %d; want both > 0", st[StatBytesUp], st[StatBytesDown])
			}
		})
	}
}

func TestPoolReuse(t *testing.T) {
	const n = 10
	for _, c := range chains {
		if c.name == "inbound" {
			continue // same code path as outbound
		}
		t.Run(c.name, func(t *testing.T) {
			srv := newEchoServer(t)
			entry, proxies := c.build(t, L7, srv.addr)
			// A new client connection per request: only the proxies' pools
			// can keep the upstream connection.
			client := clientVia(t, entry, false)
			for i := range n {
				if _, err := get(t, client, srv.addr, "GET", "/", ""); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if got := srv.conns.Load(); got != 1 {
				t.Errorf("server saw %d connections for %d requests, want 1", got, n)
			}
			for i, p := range proxies {
				if got := p.Stats()[StatUpstreamConns]; got != 1 {
					t.Errorf("proxy %d opened %d upstream connections, want 1", i, got)
				}
			}
			if got := proxies[0].Stats()[StatConnsOutbound] + proxies[0].Stats()[StatConnsInbound]; got != n {
				t.Errorf("first proxy accepted %d connections, want %d", got, n)
			}
		})
	}
}

func TestVIPBalancing(t *testing.T) {
	s1, s2 := newEchoServer(t), newEchoServer(t)
	vip := netip.MustParseAddrPort("10.96.0.10:80")
	services := []Service{{Name: "web", VIP: vip.Addr(), Port: vip.Port(), Endpoints: []netip.AddrPort{s1.addr, s2.addr}}}
	tests := []struct {
		mode      Mode
		keepAlive bool
		counter   string // what is balanced: requests (l7) or connections (l4)
	}{
		{L7, true, "requests"},
		{L4, false, "conns"},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			p := startProxy(t, Config{Mode: tt.mode, Outbound: loopback, OrigDst: fixedDst(vip), Services: services})
			client := clientVia(t, p.Addrs().Outbound, tt.keepAlive)
			for i := range 4 {
				if _, err := get(t, client, vip, "GET", "/", ""); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			waitStats(t, p, map[string]uint64{
				StatServices:                     1,
				StatEndpoints:                    2,
				UpstreamKey(s1.addr, tt.counter): 2,
				UpstreamKey(s2.addr, tt.counter): 2,
			})
		})
	}
}

func TestNotRedirectedRefused(t *testing.T) {
	self := func(c *net.TCPConn) (netip.AddrPort, error) {
		return c.LocalAddr().(*net.TCPAddr).AddrPort(), nil
	}
	p := startProxy(t, Config{Outbound: loopback, OrigDst: self})
	conn, err := net.Dial("tcp4", p.Addrs().Outbound.String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := bufio.NewReader(conn).Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a connection that should be refused", n)
	}
	waitStats(t, p, map[string]uint64{StatErrors: 1, StatUpstreamConns: 0})
}
