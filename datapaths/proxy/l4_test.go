package proxy

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// sinkServer reads every connection to its end and counts the bytes.
func sinkServer(tb testing.TB) (netip.AddrPort, *atomic.Int64) {
	tb.Helper()
	ln, err := net.Listen("tcp4", loopback)
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	tb.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					m, err := c.Read(buf)
					n.Add(int64(m))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), &n
}

// TestL4NoSplice tells the two copy paths apart by when bytes_up moves:
// splice counts once the direction ended, read/write counts every buffer
// as it passes.
func TestL4NoSplice(t *testing.T) {
	const size = 256 << 10
	tests := []struct {
		name     string
		noSplice bool
		// wantMidway is bytes_up once the server has every byte but the
		// client has not closed yet.
		wantMidway uint64
	}{
		{"splice", false, 0},
		{"read and write", true, size},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, received := sinkServer(t)
			p := startProxy(t, Config{Mode: L4, Outbound: loopback, OrigDst: fixedDst(dst), NoSplice: tt.noSplice})
			conn, err := net.Dial("tcp4", p.Addrs().Outbound.String())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, strings.Repeat("x", size)); err != nil {
				t.Fatalf("write: %v", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for received.Load() < size {
				if time.Now().After(deadline) {
					t.Fatalf("server received %d bytes, want %d", received.Load(), size)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if tt.wantMidway == 0 {
				if got := p.Stats()[StatBytesUp]; got != 0 {
					t.Errorf("bytes_up before the end = %d, want 0 (counted when the direction ends)", got)
				}
			} else {
				waitStats(t, p, map[string]uint64{StatBytesUp: tt.wantMidway})
			}
			conn.(*net.TCPConn).CloseWrite()
			waitStats(t, p, map[string]uint64{StatBytesUp: size})
		})
	}
}
