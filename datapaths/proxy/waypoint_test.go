package proxy

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestWaypointPath sends requests on one keep-alive connection along
// ambient's path with a waypoint: client node proxy (l4) → waypoint (l7)
// → server node proxy (l4) → endpoints, mTLS on both proxy-to-proxy legs.
// The waypoint must count every request and balance them over the
// endpoints one by one, which an l4 node proxy alone, pinning the
// connection to one endpoint, does not.
func TestWaypointPath(t *testing.T) {
	s1, s2 := newEchoServer(t), newEchoServer(t)
	vip := netip.MustParseAddrPort("10.96.0.10:80")
	services := []Service{{Name: "web", VIP: vip.Addr(), Port: vip.Port(), Endpoints: []netip.AddrPort{s1.addr, s2.addr}}}
	m := newMesh(t)
	server := startProxy(t, Config{Tunnel: loopback, Services: services, TLS: m.tls(t, "node-b", time.Hour)})
	waypoint := startProxy(t, Config{Mode: L7, Tunnel: loopback, Waypoint: true, Services: services,
		TLS:  m.tls(t, "waypoint-web", time.Hour, "node-a"),
		Peer: func(netip.AddrPort) Hop { return Hop{Addr: server.Addrs().Tunnel, Tunnel: true, Identity: "node-b"} }})
	client := startProxy(t, Config{Outbound: loopback, OrigDst: fixedDst(vip), Services: services,
		TLS:       m.tls(t, "node-a", time.Hour),
		Waypoints: []ServiceWaypoint{{VIP: vip, Addr: waypoint.Addrs().Tunnel, Identity: "waypoint-web"}}})

	app := clientVia(t, client.Addrs().Outbound, true)
	const n = 6
	for i := range n {
		if _, err := get(t, app, vip, "GET", "/", ""); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	waitStats(t, client, map[string]uint64{StatConnsOutbound: 1, StatTunnelsDialed: 1, UpstreamKey(vip, "conns"): 1})
	waitStats(t, waypoint, map[string]uint64{
		StatTunnels: 1, StatRequests: n, StatTLSErrors: 0,
		UpstreamKey(s1.addr, "requests"): n / 2, UpstreamKey(s2.addr, "requests"): n / 2,
	})
	// One pooled tunnel per endpoint from the waypoint, each dialled direct.
	waitStats(t, server, map[string]uint64{StatTunnels: 2, StatTLSErrors: 0, StatTunnelsRefused: 0})
}

// TestTunnelToVIPOnlyForWaypoints speaks the tunnel protocol by hand: a
// CONNECT naming a service VIP is refused (403) by a proxy that is not a
// waypoint, which would otherwise balance for any peer of the CA, and
// accepted by a waypoint; an address that is neither VIP nor endpoint is
// refused by both.
func TestTunnelToVIPOnlyForWaypoints(t *testing.T) {
	srv := newEchoServer(t)
	vip := netip.MustParseAddrPort("10.96.0.10:80")
	services := []Service{{Name: "web", VIP: vip.Addr(), Port: vip.Port(), Endpoints: []netip.AddrPort{srv.addr}}}
	tests := []struct {
		name     string
		waypoint bool
		dst      netip.AddrPort
		want     string
	}{
		{"vip at a node proxy", false, vip, "HTTP/1.1 403 "},
		{"vip at a waypoint", true, vip, "HTTP/1.1 200 "},
		{"outsider at a waypoint", true, netip.MustParseAddrPort("127.0.0.1:22"), "HTTP/1.1 403 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, Config{Tunnel: loopback, Services: services, Waypoint: tt.waypoint})
			c, err := net.Dial("tcp4", p.Addrs().Tunnel.String())
			if err != nil {
				t.Fatalf("dial tunnel: %v", err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if err := writeConnect(c, tt.dst); err != nil {
				t.Fatalf("write CONNECT: %v", err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, tt.want) {
				t.Errorf("got reply %q, %v; want %q", line, err, tt.want)
			}
		})
	}
}

func TestWaypointConfigRefused(t *testing.T) {
	vip := netip.MustParseAddrPort("10.96.0.10:80")
	services := []Service{{Name: "web", VIP: vip.Addr(), Port: vip.Port()}}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"waypoint without tunnel", Config{Outbound: loopback, Waypoint: true}, "set a tunnel address"},
		{"waypoint for an unknown VIP", Config{Outbound: loopback, Services: services,
			Waypoints: []ServiceWaypoint{{VIP: netip.MustParseAddrPort("10.96.0.11:80")}}}, "not the VIP of a service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
