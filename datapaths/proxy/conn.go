package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// handle serves one accepted connection, then counts and logs its failure.
func (p *Proxy) handle(ctx context.Context, r role, c *net.TCPConn) {
	if !p.track(c) {
		c.Close()
		return
	}
	defer func() {
		c.Close()
		p.untrack(c)
	}()
	var err error
	switch r {
	case outbound:
		p.stats.connsOutbound.Add(1)
		err = p.serveRedirected(ctx, c, false)
	case inbound:
		p.stats.connsInbound.Add(1)
		if p.mtls != nil {
			err = p.refusePlaintext(c)
			break
		}
		err = p.serveRedirected(ctx, c, true)
	case tunnel:
		p.stats.tunnels.Add(1)
		err = p.serveTunnel(ctx, c)
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("connection failed", "listener", r.String(), "client", c.RemoteAddr().String(), "err", err)
		p.stats.errors.Add(1)
	}
}

// serveRedirected serves a connection redirected to the outbound or (direct)
// inbound listener.
func (p *Proxy) serveRedirected(ctx context.Context, c *net.TCPConn, direct bool) error {
	dst, err := p.origDst(c)
	if err != nil {
		return fmt.Errorf("learn original destination: %w", err)
	}
	if local := c.LocalAddr().(*net.TCPAddr).AddrPort(); dst == local {
		return fmt.Errorf("connection to %s was not redirected: refusing to dial myself", local)
	}
	if p.cfg.Mode == L7 {
		return p.serveL7(ctx, c, bufio.NewReader(c), dst, direct)
	}
	up, err := p.dial(ctx, p.routes.lookup(dst, direct))
	if err != nil {
		return err
	}
	defer p.closeUp(up)
	p.relay(c, nil, up.conn, up.br)
	return nil
}

// serveTunnel serves a tunnel from a peer proxy: mTLS when configured, then
// a CONNECT naming the destination.
func (p *Proxy) serveTunnel(ctx context.Context, c *net.TCPConn) error {
	c.SetDeadline(time.Now().Add(setupTimeout))
	var conn net.Conn = c
	if p.mtls != nil {
		tc := tls.Server(c, p.mtls.server)
		if err := tc.HandshakeContext(ctx); err != nil {
			p.stats.tlsErrors.Add(1)
			return fmt.Errorf("tls handshake: %w", err)
		}
		conn = tc
	}
	br := bufio.NewReader(conn)
	dst, err := readConnect(br)
	if err != nil {
		writeConnectReply(conn, 400)
		return err
	}
	if !p.routes.isEndpoint(dst) && !(p.cfg.Waypoint && p.routes.isVIP(dst)) {
		p.stats.tunnelsRefused.Add(1)
		writeConnectReply(conn, http.StatusForbidden)
		if p.cfg.Waypoint {
			return fmt.Errorf("refuse tunnel to %s: neither a VIP nor an endpoint of the service table", dst)
		}
		return fmt.Errorf("refuse tunnel to %s: not an endpoint of the service table", dst)
	}
	c.SetDeadline(time.Time{})
	// A waypoint sends what it is tunnelled on through its peers; any
	// other proxy is the last one and dials the destination.
	direct := !p.cfg.Waypoint
	if p.cfg.Mode == L7 {
		// Requests are balanced and dialled one by one: the tunnel is open.
		if err := writeConnectReply(conn, 200); err != nil {
			return fmt.Errorf("answer CONNECT: %w", err)
		}
		return p.serveL7(ctx, conn, br, dst, direct)
	}
	up, err := p.dial(ctx, p.routes.lookup(dst, direct))
	if err != nil {
		writeConnectReply(conn, 502)
		return err
	}
	defer p.closeUp(up)
	if err := writeConnectReply(conn, 200); err != nil {
		return fmt.Errorf("answer CONNECT: %w", err)
	}
	p.relay(conn, br, up.conn, up.br)
	return nil
}

// refusePlaintext resets a connection redirected to the inbound listener of
// a proxy that requires mTLS (Istio's STRICT PeerAuthentication): peers
// come through the tunnel listener, so whatever arrives here is plaintext
// from outside the mesh.
func (p *Proxy) refusePlaintext(c *net.TCPConn) error {
	p.stats.plaintextRefused.Add(1)
	c.SetLinger(0) // close with a reset, as a port without a listener would
	return fmt.Errorf("refuse plaintext connection from %s: mTLS is required", c.RemoteAddr())
}

// dial opens a connection along ep's hop: TCP with the proxy's mark, then
// for tunnels mTLS (when configured) and the CONNECT exchange.
func (p *Proxy) dial(ctx context.Context, ep *endpoint) (*upConn, error) {
	hop := ep.hop
	raw, err := p.dialer.DialContext(ctx, "tcp4", hop.Addr.String())
	if err != nil {
		p.stats.dialErrors.Add(1)
		ep.errors.Add(1)
		return nil, fmt.Errorf("dial %s: %w", hop.Addr, err)
	}
	if !p.track(raw) {
		raw.Close()
		return nil, fmt.Errorf("dial %s: %w", hop.Addr, net.ErrClosed)
	}
	p.stats.upstreamConns.Add(1)
	ep.conns.Add(1)
	up := &upConn{raw: raw, conn: raw}
	if !hop.Tunnel {
		return up, nil
	}
	if err := p.openTunnel(ctx, up, ep); err != nil {
		p.closeUp(up)
		ep.errors.Add(1)
		return nil, err
	}
	p.stats.tunnelsDialed.Add(1)
	return up, nil
}

func (p *Proxy) openTunnel(ctx context.Context, up *upConn, ep *endpoint) error {
	up.raw.SetDeadline(time.Now().Add(setupTimeout))
	if ep.tls != nil {
		tc := tls.Client(up.raw, ep.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			p.stats.tlsErrors.Add(1)
			return fmt.Errorf("tls handshake with %s: %w", ep.hop.Addr, err)
		}
		up.conn = tc
	}
	if err := writeConnect(up.conn, ep.addr); err != nil {
		return fmt.Errorf("open tunnel to %s via %s: %w", ep.addr, ep.hop.Addr, err)
	}
	up.br = bufio.NewReader(up.conn)
	if err := readConnectReply(up.br); err != nil {
		return fmt.Errorf("open tunnel to %s via %s: %w", ep.addr, ep.hop.Addr, err)
	}
	return up.raw.SetDeadline(time.Time{})
}

func (p *Proxy) closeUp(up *upConn) {
	up.conn.Close()
	p.untrack(up.raw)
}
