package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// benchRate is the request rate of each path in the hop benchmarks: the
// issue's l4 target (<= 60 µs added to p50 per hop) is set at 1,000 rps.
const benchRate = 1000

// BenchmarkL4Hop measures what one l4 proxy adds to a request's latency.
func BenchmarkL4Hop(b *testing.B) { benchHop(b, L4, "outbound", 1) }

// BenchmarkL7Hop measures what one l7 proxy adds.
func BenchmarkL7Hop(b *testing.B) { benchHop(b, L7, "outbound", 1) }

// BenchmarkMTLSHop measures a client and a server proxy joined by an mTLS
// tunnel (the node-proxy model), per proxy, beside the same pair with a
// plain tunnel so that the cost of mTLS itself shows.
func BenchmarkMTLSHop(b *testing.B) {
	for _, mode := range []Mode{L4, L7} {
		for _, pair := range []struct{ name, chain string }{{"plain", "tunnel pair"}, {"mtls", "mtls tunnel pair"}} {
			b.Run(string(mode)+"/"+pair.name, func(b *testing.B) { benchHop(b, mode, pair.chain, 2) })
		}
	}
}

// benchHop sends requests at benchRate, each on a warm keep-alive
// connection, alternately straight to an echo server and through the chain
// of proxies, and reports the p50 and p99 of both and what the chain adds
// per hop. Interleaving exposes both paths to the same machine noise.
func benchHop(b *testing.B, mode Mode, chainName string, hops int) {
	i := slices.IndexFunc(chains, func(c chain) bool { return c.name == chainName })
	srv := newEchoServer(b)
	entry, _ := chains[i].build(b, mode, srv.addr)
	direct, proxied := dialRaw(b, srv.addr), dialRaw(b, entry)
	for range 200 { // warm up connections, pools, TLS and the scheduler
		direct.do(b)
		proxied.do(b)
	}
	lat := [2][]time.Duration{make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)}
	tick := time.Second / benchRate
	next := time.Now()
	b.ResetTimer()
	for n := range b.N {
		next = next.Add(tick)
		time.Sleep(time.Until(next))
		for k := range 2 {
			path := (n + k) % 2 // alternate which path goes first
			c := direct
			if path == 1 {
				c = proxied
			}
			lat[path] = append(lat[path], c.do(b))
		}
	}
	b.StopTimer()
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	d50, d99 := percentile(lat[0], 0.50), percentile(lat[0], 0.99)
	p50, p99 := percentile(lat[1], 0.50), percentile(lat[1], 0.99)
	b.ReportMetric(us(d50), "direct-p50-µs")
	b.ReportMetric(us(p50), "proxied-p50-µs")
	b.ReportMetric(us(p50-d50)/float64(hops), "added-p50-µs/hop")
	b.ReportMetric(us(p99-d99)/float64(hops), "added-p99-µs/hop")
}

func percentile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// rawClient sends one fixed request at a time on a keep-alive connection.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
}

func dialRaw(tb testing.TB, addr netip.AddrPort) *rawClient {
	tb.Helper()
	c, err := net.Dial("tcp4", addr.String())
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawClient{conn: c, br: bufio.NewReader(c), req: []byte("GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n")}
}

// do sends the request and reads the whole response, returning how long
// that took.
func (c *rawClient) do(tb testing.TB) time.Duration {
	start := time.Now()
	if _, err := c.conn.Write(c.req); err != nil {
		tb.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		tb.Fatalf("read response: %v", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("read response: status %d, %v", resp.StatusCode, err)
	}
	return time.Since(start)
}

// BenchmarkNew measures the proxy state built per service: a sidecar-model
// proxy with mTLS and n services of one endpoint each (B/op grows with n).
func BenchmarkNew(b *testing.B) {
	m := newMesh(b)
	tc := m.tls(b, "client", time.Hour)
	for _, n := range []int{10, 100, 200} {
		services := make([]Service, n)
		for i := range services {
			services[i] = Service{
				Name: fmt.Sprintf("svc-%d", i),
				VIP:  netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}), Port: 80,
				Endpoints: []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)}), 8080)},
			}
		}
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(Config{Outbound: loopback, Services: services, TLS: tc, Peer: SidecarPeers(DefaultTunnelPort, services)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
