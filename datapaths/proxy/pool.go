package proxy

import (
	"bufio"
	"net"
	"sync"
	"time"
)

const (
	// maxIdle bounds the idle connections kept per upstream endpoint.
	maxIdle = 64
	// idleTimeout drops connections idle for longer, before upstreams
	// that time out idle keep-alive connections close them under us.
	idleTimeout = 60 * time.Second
)

// upConn is a connection to an upstream: raw is the TCP socket the proxy
// tracks, conn what carries the bytes (raw, or TLS over it).
type upConn struct {
	raw  net.Conn
	conn net.Conn
	// br holds bytes read past a tunnel's CONNECT reply; set for every
	// pooled connection.
	br *bufio.Reader
	bw *bufio.Writer

	idleSince time.Time
}

// pool keeps an endpoint's idle keep-alive connections, most recent last.
type pool struct {
	mu   sync.Mutex
	idle []*upConn
}

// get takes the most recently used idle connection, or returns nil. Having
// found a connection idle too long, it empties the pool and returns all of
// them (every one below is older still) in stale for the caller to close.
func (pl *pool) get(now time.Time) (uc *upConn, stale []*upConn) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	n := len(pl.idle)
	if n == 0 {
		return nil, nil
	}
	uc = pl.idle[n-1]
	if now.Sub(uc.idleSince) > idleTimeout {
		stale, pl.idle = pl.idle, nil
		return nil, stale
	}
	pl.idle[n-1] = nil
	pl.idle = pl.idle[:n-1]
	return uc, nil
}

// put keeps uc for reuse; it reports false, and keeps nothing, when the pool
// is full.
func (pl *pool) put(uc *upConn, now time.Time) bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if len(pl.idle) >= maxIdle {
		return false
	}
	uc.idleSince = now
	pl.idle = append(pl.idle, uc)
	return true
}
