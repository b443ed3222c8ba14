package proxy

import (
	"fmt"
	"log/slog"
	"net/netip"
)

// Mode is how the proxy treats the bytes of a connection.
type Mode string

const (
	// L4 relays bytes both ways.
	L4 Mode = "l4"
	// L7 forwards HTTP/1.1 requests over keep-alive pools.
	L7 Mode = "l7"
)

// Defaults, also the flag defaults of Main.
const (
	DefaultOutbound = "0.0.0.0:15001"
	DefaultInbound  = "0.0.0.0:15006"
	// DefaultTunnelPort is the tunnel port datapaths use by convention (Istio's
	// HBONE port); the tunnel listener is off unless configured.
	DefaultTunnelPort = 15008
	// DefaultMark is the SO_MARK on the proxy's own connections.
	DefaultMark = 0x539
)

// Config is everything a Proxy needs. The zero value of each optional field
// turns its feature off.
type Config struct {
	// Mode is L4 (default when empty) or L7.
	Mode Mode
	// Outbound, Inbound and Tunnel are TCP listen addresses ("ip:port");
	// an empty one is not opened. At least one must be set.
	Outbound, Inbound, Tunnel string
	// OrigDst learns a redirected connection's original destination;
	// nil means OriginalDst (SO_ORIGINAL_DST).
	OrigDst OrigDstFunc
	// Peer decides how outbound traffic reaches each endpoint; nil means
	// Direct.
	Peer PeerFunc
	// Services is the service table (VIPs to endpoints).
	Services []Service
	// Mark is set as SO_MARK on every upstream socket; 0 sets none.
	Mark uint32
	// TLS, when set, secures tunnels with mTLS: the tunnel listener requires
	// it and hops with Tunnel set use it.
	TLS *TLSConfig
	// NoSplice makes l4 relay bytes between two TCP sockets with read and
	// write instead of splice(2). Sockets whose data arrives through an
	// sk_msg redirect (the ebpf datapath) need it: splice does not see the
	// BPF ingress queue, so it would wait forever for data already there.
	NoSplice bool
	// Waypoints send outbound traffic to a service's VIP through the
	// service's waypoint instead of to one of its endpoints: the tunnel
	// names the VIP, and the waypoint balances. Each VIP must be one of
	// Services'.
	Waypoints []ServiceWaypoint
	// Waypoint makes the proxy a waypoint (Istio ambient's per-service L7
	// proxy): its tunnel listener also takes CONNECTs naming a service VIP
	// of Services, and routes what tunnels carry as outbound traffic,
	// through Peer, instead of dialling the destination directly.
	Waypoint bool
	// Log receives one line per failed connection or request; nil discards.
	Log *slog.Logger
}

func (c *Config) validate() error {
	switch c.Mode {
	case L4, L7:
	default:
		return fmt.Errorf("unknown mode %q (want %q or %q)", c.Mode, L4, L7)
	}
	if c.Outbound == "" && c.Inbound == "" && c.Tunnel == "" {
		return fmt.Errorf("no listener configured: set an outbound, inbound or tunnel address")
	}
	if c.Waypoint && c.Tunnel == "" {
		return fmt.Errorf("a waypoint takes its traffic on the tunnel listener: set a tunnel address")
	}
	if err := validateServices(c.Services); err != nil {
		return err
	}
	vips := make(map[netip.AddrPort]bool, len(c.Services))
	for _, s := range c.Services {
		if s.VIP.IsValid() {
			vips[netip.AddrPortFrom(s.VIP, s.Port)] = true
		}
	}
	for _, w := range c.Waypoints {
		if !vips[w.VIP] {
			return fmt.Errorf("waypoint for %s: not the VIP of a service in the table", w.VIP)
		}
	}
	return nil
}

// Hop is how the proxy reaches one destination endpoint.
type Hop struct {
	// Addr is the address the proxy dials.
	Addr netip.AddrPort
	// Tunnel says Addr is a peer proxy's tunnel listener: the proxy speaks
	// mTLS to it when TLS is configured and names the destination in a
	// CONNECT request.
	Tunnel bool
	// Identity is the service name whose identity the peer must present;
	// empty accepts any of TLSConfig.AllowedPeers.
	Identity string
}

// PeerFunc returns the hop for a destination endpoint. The proxy calls it
// once per endpoint and keeps the answer, so it must not change over time.
type PeerFunc func(dst netip.AddrPort) Hop

// Direct is the PeerFunc that dials every destination itself: the sidecar
// model without mTLS, where the server pod's inbound redirect then lands in
// the server's sidecar.
func Direct(dst netip.AddrPort) Hop { return Hop{Addr: dst} }

// SidecarPeers is the sidecar model with mTLS: traffic for an endpoint of a
// service goes through a tunnel to the sidecar in the endpoint's own pod
// (same IP, tunnel port), which must present the service's identity.
// Destinations outside the table are dialled directly.
func SidecarPeers(tunnelPort uint16, services []Service) PeerFunc {
	owner := make(map[netip.Addr]string)
	for _, s := range services {
		for _, ep := range s.Endpoints {
			owner[ep.Addr()] = s.Name
		}
	}
	return func(dst netip.AddrPort) Hop {
		name, ok := owner[dst.Addr()]
		if !ok {
			return Direct(dst)
		}
		return Hop{Addr: netip.AddrPortFrom(dst.Addr(), tunnelPort), Tunnel: true, Identity: name}
	}
}

// ServiceWaypoint is the waypoint of one service.
type ServiceWaypoint struct {
	// VIP is the service's virtual address and port.
	VIP netip.AddrPort
	// Addr is the waypoint's tunnel listener.
	Addr netip.AddrPort
	// Identity is the name the waypoint presents; empty accepts any of
	// TLSConfig.AllowedPeers.
	Identity string
}

// hop is the tunnel to the waypoint.
func (w ServiceWaypoint) hop() Hop { return Hop{Addr: w.Addr, Tunnel: true, Identity: w.Identity} }

// NodePeer is a node proxy and the pods behind it.
type NodePeer struct {
	// PodCIDR holds the pods the node proxy serves.
	PodCIDR netip.Prefix
	// Addr is the node proxy's tunnel listener.
	Addr netip.AddrPort
	// Identity is the service name the node proxy presents; empty accepts
	// any of TLSConfig.AllowedPeers.
	Identity string
}

// NodePeers is the node-proxy model: traffic for a pod goes through a
// tunnel to the proxy of the node whose pod CIDR holds it. Destinations no
// peer covers (such as the proxy's own node, when not listed) are dialled
// directly.
func NodePeers(peers []NodePeer) PeerFunc {
	peers = append([]NodePeer(nil), peers...)
	return func(dst netip.AddrPort) Hop {
		for _, p := range peers {
			if p.PodCIDR.Contains(dst.Addr()) {
				return Hop{Addr: p.Addr, Tunnel: true, Identity: p.Identity}
			}
		}
		return Direct(dst)
	}
}
