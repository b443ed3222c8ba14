package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTunnelReachesOnlyServiceEndpoints opens tunnels with a valid identity
// of the run's CA (and without mTLS) to an endpoint of the tunnel server's
// service table and to an address outside it: only the first may pass.
func TestTunnelReachesOnlyServiceEndpoints(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "mtls"}[withTLS]
		t.Run(name, func(t *testing.T) {
			member, outsider := newEchoServer(t), newEchoServer(t)
			var server, client *TLSConfig
			if withTLS {
				m := newMesh(t)
				server, client = m.tls(t, "server", time.Hour, "client"), m.tls(t, "client", time.Hour)
			}
			logs := &syncBuffer{}
			b := startProxy(t, Config{Tunnel: loopback, Services: tableOf(member.addr), TLS: server, Log: logs.logger()})
			hop := Hop{Addr: b.Addrs().Tunnel, Tunnel: true}
			if withTLS {
				hop.Identity = "server"
			}
			via := func(dst netip.AddrPort) *http.Client {
				a := startProxy(t, Config{Outbound: loopback, OrigDst: fixedDst(dst), TLS: client,
					Peer: func(netip.AddrPort) Hop { return hop }})
				return clientVia(t, a.Addrs().Outbound, false)
			}
			if _, err := get(t, via(member.addr), member.addr, "GET", "/", ""); err != nil {
				t.Fatalf("tunnel to a service endpoint: %v", err)
			}
			if _, err := get(t, via(outsider.addr), outsider.addr, "GET", "/", ""); err == nil {
				t.Fatal("tunnel to an address outside the service table got an answer")
			}
			waitStats(t, b, map[string]uint64{StatTunnels: 2, StatTunnelsRefused: 1, StatErrors: 1})
			if n := outsider.conns.Load(); n != 0 {
				t.Errorf("the refused tunnel reached the outside server (%d connections)", n)
			}
			if log := logs.String(); !strings.Contains(log, "not an endpoint of the service table") {
				t.Errorf("tunnel server's log does not say why it refused:\n%s", log)
			}
		})
	}
}

// TestTunnelRefusalIs403 speaks the tunnel protocol by hand: a CONNECT to a
// non-endpoint is answered 403 Forbidden.
func TestTunnelRefusalIs403(t *testing.T) {
	srv := newEchoServer(t)
	b := startProxy(t, Config{Tunnel: loopback, Services: tableOf(srv.addr)})
	c, err := net.Dial("tcp4", b.Addrs().Tunnel.String())
	if err != nil {
		t.Fatalf("dial tunnel: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := writeConnect(c, netip.MustParseAddrPort("127.0.0.1:22")); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 403 ") {
		t.Errorf("got reply %q, %v; want HTTP/1.1 403", line, err)
	}
}

// TestInboundRefusesPlaintextWithMTLS sends plaintext to the inbound
// listener of a proxy with mTLS (strict) and without (the control).
func TestInboundRefusesPlaintextWithMTLS(t *testing.T) {
	m := newMesh(t)
	for _, strict := range []bool{false, true} {
		t.Run(map[bool]string{false: "permissive", true: "strict"}[strict], func(t *testing.T) {
			srv := newEchoServer(t)
			cfg := Config{Inbound: loopback, OrigDst: fixedDst(srv.addr)}
			if strict {
				cfg.TLS = m.tls(t, "server", time.Hour, "client")
			}
			p := startProxy(t, cfg)
			_, err := get(t, clientVia(t, p.Addrs().Inbound, false), srv.addr, "GET", "/", "")
			if refused := err != nil; refused != strict {
				t.Fatalf("got error %v, want refused %v", err, strict)
			}
			want := map[string]uint64{StatConnsInbound: 1, StatPlaintextRefused: 0}
			if strict {
				want[StatPlaintextRefused] = 1
				if n := srv.conns.Load(); n != 0 {
					t.Errorf("refused plaintext reached the server (%d connections)", n)
				}
			}
			waitStats(t, p, want)
		})
	}
}

// TestRouteTableBounded sends connections to more distinct destinations
// outside the service table than the proxy keeps routes for.
func TestRouteTableBounded(t *testing.T) {
	var next atomic.Uint32
	distinct := func(*net.TCPConn) (netip.AddrPort, error) {
		n := next.Add(1)
		// Loopback addresses where nothing listens: each dial fails at once.
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(n >> 8), byte(n)}), 9), nil
	}
	srv := newEchoServer(t)
	p := startProxy(t, Config{Outbound: loopback, OrigDst: distinct, Services: tableOf(srv.addr)})
	const over = 20
	for range MaxExtraRoutes + over {
		c, err := net.Dial("tcp4", p.Addrs().Outbound.String())
		if err != nil {
			t.Fatalf("dial proxy: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c) // the proxy closes once its dial failed
		c.Close()
	}
	waitStats(t, p, map[string]uint64{
		StatConnsOutbound:  MaxExtraRoutes + over,
		StatEndpoints:      MaxExtraRoutes + 1, // and the table's one
		StatRoutesOverflow: over,
	})
}
