package proxy

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// dialFrom opens a connection to addr from the local address from.
func dialFrom(tb testing.TB, from netip.Addr, addr netip.AddrPort) net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
	c, err := d.Dial("tcp4", addr.String())
	if err != nil {
		tb.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// TestSourceCounters checks that the proxy counts what it intercepts per
// application address, and only that address's: coverage is read from
// these counters.
func TestSourceCounters(t *testing.T) {
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	t.Run("l4", func(t *testing.T) {
		dst, _ := sinkServer(t)
		p := startProxy(t, Config{Mode: L4, Outbound: loopback, OrigDst: fixedDst(dst)})
		for _, s := range []struct {
			from  netip.Addr
			bytes int
		}{{a, 100}, {a, 50}, {b, 7}} {
			c := dialFrom(t, s.from, p.Addrs().Outbound)
			if _, err := io.WriteString(c, strings.Repeat("x", s.bytes)); err != nil {
				t.Fatalf("write: %v", err)
			}
			c.(*net.TCPConn).CloseWrite()
		}
		waitStats(t, p, map[string]uint64{
			SourceKey(a, SourceConns): 2, SourceKey(a, SourceBytes): 150, SourceKey(a, SourceMTLS): 0,
			SourceKey(b, SourceConns): 1, SourceKey(b, SourceBytes): 7,
			StatSourcesOverflow: 0,
		})
	})
	t.Run("l7", func(t *testing.T) {
		srv := newEchoServer(t)
		p := startProxy(t, Config{Mode: L7, Outbound: loopback, OrigDst: fixedDst(srv.addr)})
		c := dialFrom(t, b, p.Addrs().Outbound)
		const req = "GET /x HTTP/1.1\r\nHost: s\r\n\r\n"
		for range 3 {
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("read responses: %v", err)
		}
		waitStats(t, p, map[string]uint64{
			SourceKey(b, SourceConns): 1, SourceKey(b, SourceRequests): 3, SourceKey(b, SourceBytes): 3 * uint64(len(req)),
		})
		if _, ok := p.Stats()[SourceKey(a, SourceConns)]; ok {
			t.Errorf("stats count source %s, which sent nothing", a)
		}
	})
}
