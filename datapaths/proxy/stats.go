package proxy

import (
	"io"
	"net/netip"
	"sync/atomic"
)

// Stats keys; see the package documentation for what each counts.
const (
	StatConnsOutbound = "conns_outbound"
	StatConnsInbound  = "conns_inbound"
	StatTunnels       = "tunnels"
	StatTunnelsDialed = "tunnels_dialed"
	StatUpstreamConns = "upstream_conns"
	StatRequests      = "requests"
	StatBytesUp       = "bytes_up"
	StatBytesDown     = "bytes_down"
	StatErrors        = "errors"
	StatDialErrors    = "dial_errors"
	StatTLSErrors     = "tls_errors"
	StatServices      = "services"
	StatEndpoints     = "endpoints"
	// StatTunnelsRefused counts CONNECTs to a destination that is no
	// endpoint of the service table, answered 403.
	StatTunnelsRefused = "tunnels_refused"
	// StatPlaintextRefused counts plaintext connections the inbound
	// listener refused because the proxy requires mTLS (strict mode).
	StatPlaintextRefused = "plaintext_refused"
	// StatRoutesOverflow counts connections to destinations outside the
	// service table served without a kept route: MaxExtraRoutes were full.
	StatRoutesOverflow = "routes_overflow"
	// StatRedirectHits counts the packets the redirect rules of the
	// proxy's -count-table matched.
	StatRedirectHits = "redirect_hits"
)

// UpstreamKey is the Stats key of one per-upstream counter ("conns",
// "requests" or "errors"): "upstream/<ip:port>/<counter>".
func UpstreamKey(addr netip.AddrPort, counter string) string {
	return "upstream/" + addr.String() + "/" + counter
}

type counters struct {
	connsOutbound, connsInbound, tunnels, tunnelsDialed, upstreamConns atomic.Uint64
	requests, bytesUp, bytesDown                                       atomic.Uint64
	errors, dialErrors, tlsErrors                                      atomic.Uint64
	tunnelsRefused, plaintextRefused                                   atomic.Uint64
}

// Stats returns a snapshot of the proxy's counters.
func (p *Proxy) Stats() map[string]uint64 {
	s := &p.stats
	out := map[string]uint64{
		StatConnsOutbound: s.connsOutbound.Load(),
		StatConnsInbound:  s.connsInbound.Load(),
		StatTunnels:       s.tunnels.Load(),
		StatTunnelsDialed: s.tunnelsDialed.Load(),
		StatUpstreamConns: s.upstreamConns.Load(),
		StatRequests:      s.requests.Load(),
		StatBytesUp:       s.bytesUp.Load(),
		StatBytesDown:     s.bytesDown.Load(),
		StatErrors:        s.errors.Load(),
		StatDialErrors:    s.dialErrors.Load(),
		StatTLSErrors:     s.tlsErrors.Load(),
		StatServices:      uint64(len(p.routes.services)),

		StatTunnelsRefused:   s.tunnelsRefused.Load(),
		StatPlaintextRefused: s.plaintextRefused.Load(),
		StatRoutesOverflow:   p.routes.overflow.Load(),
	}
	endpoints := map[netip.AddrPort]bool{}
	p.routes.each(func(ep *endpoint) {
		endpoints[ep.addr] = true
		conns, requests, errors := ep.conns.Load(), ep.requests.Load(), ep.errors.Load()
		if conns+requests+errors == 0 {
			return
		}
		// An address reached both outbound and direct sums into one key.
		out[UpstreamKey(ep.addr, "conns")] += conns
		out[UpstreamKey(ep.addr, "requests")] += requests
		out[UpstreamKey(ep.addr, "errors")] += errors
	})
	out[StatEndpoints] = uint64(len(endpoints))
	p.sources.add(out)
	return out
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(uint64(n))
	return n, err
}
