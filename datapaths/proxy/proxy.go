package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	dialTimeout = 5 * time.Second
	// setupTimeout bounds a tunnel's TLS handshake and CONNECT exchange.
	setupTimeout = 10 * time.Second
)

// role is what a listener is for.
type role int

const (
	outbound role = iota
	inbound
	tunnel
)

func (r role) String() string {
	return [...]string{"outbound", "inbound", "tunnel"}[r]
}

// Addrs are the addresses the proxy listens on; a zero one is not open.
type Addrs struct {
	Outbound, Inbound, Tunnel netip.AddrPort
}

// Proxy is a running proxy. Build it with New, then Listen and Serve.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	origDst OrigDstFunc
	routes  *routes
	mtls    *mtls
	dialer  net.Dialer
	stats   counters

	listeners [3]*net.TCPListener // by role; nil when off

	mu      sync.Mutex
	conns   map[net.Conn]struct{} // every connection open, both sides
	closing bool
	wg      sync.WaitGroup // connection handlers
}

// New checks cfg and builds the proxy's tables; it opens no socket.
func New(cfg Config) (*Proxy, error) {
	if cfg.Mode == "" {
		cfg.Mode = L4
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("configure proxy: %w", err)
	}
	p := &Proxy{
		cfg:     cfg,
		log:     cfg.Log,
		origDst: cfg.OrigDst,
		conns:   make(map[net.Conn]struct{}),
		dialer:  net.Dialer{Timeout: dialTimeout, Control: markControl(cfg.Mark)},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.origDst == nil {
		p.origDst = OriginalDst
	}
	peer := cfg.Peer
	if peer == nil {
		peer = Direct
	}
	if cfg.TLS != nil {
		m, err := newMTLS(cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("configure proxy: %w", err)
		}
		p.mtls = m
	}
	p.routes = newRoutes(cfg.Services, func(k routeKey) *endpoint {
		ep := &endpoint{addr: k.addr, hop: Direct(k.addr)}
		if !k.direct {
			ep.hop = peer(k.addr)
		}
		if ep.hop.Tunnel && p.mtls != nil {
			ep.tls = p.mtls.client(ep.hop.Identity)
		}
		return ep
	})
	for _, w := range cfg.Waypoints {
		ep := &endpoint{addr: w.VIP, hop: w.hop()}
		if p.mtls != nil {
			ep.tls = p.mtls.client(w.Identity)
		}
		p.routes.waypoints[w.VIP] = ep
	}
	return p, nil
}

// markControl sets SO_MARK on the proxy's upstream sockets so that the
// datapath's redirect rules can exclude them.
func markControl(mark uint32) func(network, address string, c syscall.RawConn) error {
	if mark == 0 {
		return nil
	}
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		}); err != nil {
			return fmt.Errorf("set SO_MARK: %w", err)
		}
		if serr != nil {
			return fmt.Errorf("set SO_MARK %#x: %w", mark, serr)
		}
		return nil
	}
}

// Listen opens the configured listeners. Sockets belong to the network
// namespace of the calling thread.
func (p *Proxy) Listen(ctx context.Context) error {
	var lc net.ListenConfig
	for r, addr := range []string{p.cfg.Outbound, p.cfg.Inbound, p.cfg.Tunnel} {
		if addr == "" {
			continue
		}
		ln, err := lc.Listen(ctx, "tcp4", addr)
		if err != nil {
			p.closeListeners()
			return fmt.Errorf("listen %s on %s: %w", role(r), addr, err)
		}
		p.listeners[r] = ln.(*net.TCPListener)
	}
	return nil
}

// Addrs returns the addresses the proxy listens on.
func (p *Proxy) Addrs() Addrs {
	addr := func(r role) netip.AddrPort {
		if p.listeners[r] == nil {
			return netip.AddrPort{}
		}
		return p.listeners[r].Addr().(*net.TCPAddr).AddrPort()
	}
	return Addrs{Outbound: addr(outbound), Inbound: addr(inbound), Tunnel: addr(tunnel)}
}

func (p *Proxy) closeListeners() {
	for _, ln := range p.listeners {
		if ln != nil {
			ln.Close()
		}
	}
}

// Serve accepts connections until ctx ends, then closes the listeners and
// every connection and waits for their handlers. It returns nil after ctx
// ends, or the error that stopped a listener.
func (p *Proxy) Serve(ctx context.Context) error {
	if p.listeners == [3]*net.TCPListener{} {
		return errors.New("serve proxy: no listener open: call Listen first")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		accepting sync.WaitGroup
		errOnce   sync.Once
		serveErr  error
	)
	for r, ln := range p.listeners {
		if ln == nil {
			continue
		}
		accepting.Go(func() {
			if err := p.accept(ctx, role(r), ln); err != nil {
				errOnce.Do(func() { serveErr = err })
				cancel()
			}
		})
	}
	<-ctx.Done()
	p.closeListeners()
	p.mu.Lock()
	p.closing = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	accepting.Wait()
	p.wg.Wait()
	return serveErr
}

func (p *Proxy) accept(ctx context.Context, r role, ln *net.TCPListener) error {
	var backoff time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				p.log.Warn("accept", "listener", r.String(), "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept on %s listener: %w", r, err)
		}
		backoff = 0
		p.wg.Go(func() { p.handle(ctx, r, c) })
	}
}

// track registers c for closing at shutdown; it reports false once the
// proxy is shutting down, and the caller must then close c itself.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
