package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// h2cClientVia is an HTTP/2 client with prior knowledge whose every
// connection goes to addr.
func h2cClientVia(tb testing.TB, addr netip.AddrPort) *http.Client {
	tb.Helper()
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp4", addr.String())
		},
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// At l7 every stream of an h2c connection is a request of its own: counted,
// forwarded with its trailers, and multiplexed on one upstream connection
// per proxy hop.
func TestL7H2C(t *testing.T) {
	const streams = 8
	for _, c := range chains {
		t.Run(c.name, func(t *testing.T) {
			var upstreamConns sync.Map
			srv := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.ProtoMajor != 2 {
					http.Error(w, "want HTTP/2, got "+r.Proto, http.StatusHTTPVersionNotSupported)
					return
				}
				upstreamConns.Store(r.RemoteAddr, true)
				body, _ := io.ReadAll(r.Body)
				w.Header().Set("Trailer", "X-Echo-Len")
				fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
				w.Header().Set("X-Echo-Len", fmt.Sprint(len(body)))
			}), &http2.Server{}))
			srv.Start()
			t.Cleanup(srv.Close)
			addr := srv.Listener.Addr().(*net.TCPAddr).AddrPort()
			entry, proxies := c.build(t, L7, addr)
			client := h2cClientVia(t, entry)

			var wg sync.WaitGroup
			for i := range streams {
				wg.Go(func() {
					body := strings.Repeat("x", i)
					resp, err := client.Post("http://"+addr.String()+fmt.Sprintf("/s%d", i), "text/plain", strings.NewReader(body))
					if err != nil {
						t.Errorf("stream %d: %v", i, err)
						return
					}
					defer resp.Body.Close()
					got, err := io.ReadAll(resp.Body)
					if want := fmt.Sprintf("POST /s%d %s", i, body); err != nil || string(got) != want || resp.ProtoMajor != 2 {
						t.Errorf("stream %d: got %q (%s), %v; want %q over HTTP/2", i, got, resp.Proto, err, want)
					}
					if got := resp.Trailer.Get("X-Echo-Len"); got != fmt.Sprint(i) {
						t.Errorf("stream %d: trailer X-Echo-Len = %q, want %d", i, got, i)
					}
				})
			}
			wg.Wait()
			for _, p := range proxies {
				waitStats(t, p, map[string]uint64{StatRequests: streams, StatErrors: 0})
			}
			last := proxies[len(proxies)-1]
			waitStats(t, last, map[string]uint64{UpstreamKey(addr, "requests"): streams, UpstreamKey(addr, "conns"): 1})
			n := 0
			upstreamConns.Range(func(_, _ any) bool { n++; return true })
			if n != 1 {
				t.Errorf("server saw %d connections, want the %d streams multiplexed on 1", n, streams)
			}
		})
	}
}

// gRPC passes an l7 proxy chain with its status in the trailers, an error
// status included.
func TestL7GRPC(t *testing.T) {
	for _, c := range chains {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer()
			hs := health.NewServer()
			hs.SetServingStatus("echo", healthpb.HealthCheckResponse_SERVING)
			healthpb.RegisterHealthServer(srv, hs)
			go srv.Serve(ln)
			t.Cleanup(srv.Stop)
			addr := ln.Addr().(*net.TCPAddr).AddrPort()
			entry, proxies := c.build(t, L7, addr)

			conn, err := grpc.NewClient("passthrough:///"+entry.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			hc := healthpb.NewHealthClient(conn)
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "echo"})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("Check(echo) = %v, %v; want SERVING", resp, err)
			}
			_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "missing"})
			if status.Code(err) != codes.NotFound {
				t.Errorf("Check(missing) = %v; want NotFound from the server's trailers", err)
			}
			for _, p := range proxies {
				waitStats(t, p, map[string]uint64{StatRequests: 2, StatErrors: 0})
			}
		})
	}
}
