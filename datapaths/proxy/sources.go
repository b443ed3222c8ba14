package proxy

import (
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// The per-source counters (SourceKey): what the proxy intercepted on its
// outbound listener from one application address.
const (
	// SourceConns counts the outbound connections accepted from the
	// source.
	SourceConns = "conns"
	// SourceRequests counts the HTTP requests read from them (l7 only).
	SourceRequests = "requests"
	// SourceBytes counts the bytes read from them and forwarded.
	SourceBytes = "bytes"
	// SourceMTLS counts what of it went on over an mTLS tunnel: l4
	// connections, l7 requests.
	SourceMTLS = "mtls"
)

// MaxSources bounds the sources counted apart; connections from further
// ones count in StatSourcesOverflow only, so that the proxy's memory does
// not grow with the addresses that reach it.
const MaxSources = 1024

// StatSourcesOverflow counts outbound connections from sources past
// MaxSources, which have no counters of their own.
const StatSourcesOverflow = "sources_overflow"

// SourceKey is the Stats key of one per-source counter:
// "source/<ip>/<counter>", counter one of the Source* constants.
func SourceKey(addr netip.Addr, counter string) string {
	return "source/" + addr.String() + "/" + counter
}

// sourceCounters count what the proxy intercepted from one source.
type sourceCounters struct {
	conns, requests, bytes, mtls atomic.Uint64
}

// sources holds the counters of every source seen, up to MaxSources.
type sources struct {
	mu       sync.Mutex
	by       map[netip.Addr]*sourceCounters
	overflow atomic.Uint64
}

// of returns the counters of the connection c's remote address, or nil
// past MaxSources.
func (s *sources) of(c net.Conn) *sourceCounters {
	addr, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return nil
	}
	ip := addr.AddrPort().Addr().Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.by[ip]; ok {
		return sc
	}
	if len(s.by) >= MaxSources {
		s.overflow.Add(1)
		return nil
	}
	if s.by == nil {
		s.by = map[netip.Addr]*sourceCounters{}
	}
	sc := &sourceCounters{}
	s.by[ip] = sc
	return sc
}

// add writes the counters under their SourceKey into out.
func (s *sources) add(out map[string]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ip, sc := range s.by {
		out[SourceKey(ip, SourceConns)] = sc.conns.Load()
		out[SourceKey(ip, SourceRequests)] = sc.requests.Load()
		out[SourceKey(ip, SourceBytes)] = sc.bytes.Load()
		out[SourceKey(ip, SourceMTLS)] = sc.mtls.Load()
	}
	out[StatSourcesOverflow] = s.overflow.Load()
}

// encrypted counts one unit of the source's traffic that left over up, if
// up is an mTLS tunnel; sc may be nil.
func (sc *sourceCounters) encrypted(up *upConn) {
	if _, ok := up.conn.(*tls.Conn); ok && sc != nil {
		sc.mtls.Add(1)
	}
}

// counter is what pipe counts the bytes it moves in.
type counter interface{ Add(uint64) uint64 }

// counterPair counts in two counters at once: the proxy's and a source's.
type counterPair [2]*atomic.Uint64

func (c counterPair) Add(n uint64) uint64 {
	c[1].Add(n)
	return c[0].Add(n)
}

// upCounter is where bytes from a source go: the proxy's bytes_up, and
// the source's bytes when it has counters.
func (p *Proxy) upCounter(sc *sourceCounters) counter {
	if sc == nil {
		return &p.stats.bytesUp
	}
	return counterPair{&p.stats.bytesUp, &sc.bytes}
}

// countReader counts the bytes read through it.
type countReader struct {
	r interface{ Read([]byte) (int, error) }
	n *atomic.Uint64
}

func (c countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(uint64(n))
	return n, err
}
