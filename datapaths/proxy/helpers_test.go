package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/nsenter"
)

// echoServer answers "<method> <path> <body>" and counts its connections.
type echoServer struct {
	*httptest.Server
	addr  netip.AddrPort
	conns atomic.Int64
}

func newEchoServer(tb testing.TB) *echoServer {
	tb.Helper()
	s := &echoServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	tb.Cleanup(s.Close)
	s.addr = s.Listener.Addr().(*net.TCPAddr).AddrPort()
	return s
}

// fixedDst is an OrigDstFunc that says every connection was headed to dst,
// as a redirect would.
func fixedDst(dst netip.AddrPort) OrigDstFunc {
	return func(*net.TCPConn) (netip.AddrPort, error) { return dst, nil }
}

// tableOf is a service table with one service whose endpoints are eps: what
// a tunnel listener needs to reach them.
func tableOf(eps ...netip.AddrPort) []Service {
	return []Service{{Name: "server", Endpoints: eps}}
}

// startProxy builds, listens and serves a proxy until the test ends.
func startProxy(tb testing.TB, cfg Config) *Proxy {
	tb.Helper()
	return startProxyIn(tb, "", cfg)
}

// startProxyIn is startProxy with the proxy's listeners in the network
// namespace at nsPath, or in the test's own when nsPath is "".
func startProxyIn(tb testing.TB, nsPath string, cfg Config) *Proxy {
	tb.Helper()
	p, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	listen := func() error { return p.Listen(ctx) }
	if nsPath == "" {
		err = listen()
	} else {
		err = nsenter.Do(nsPath, listen)
	}
	if err != nil {
		cancel()
		tb.Fatalf("Listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			tb.Errorf("Serve did not return after its context ended")
		}
	})
	return p
}

// clientVia is an HTTP client whose every connection goes to addr (the
// app-side end of a redirect). keepAlive false opens one connection per
// request.
func clientVia(tb testing.TB, addr netip.AddrPort, keepAlive bool) *http.Client {
	tb.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp4", addr.String())
		},
		DisableKeepAlives: !keepAlive,
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// get fetches path from the server whose address names the request's
// host, returning the body.
func get(tb testing.TB, c *http.Client, server netip.AddrPort, method, path, body string) (string, error) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = &onceReader{s: body}
	}
	req, err := http.NewRequest(method, "http://"+server.String()+path, rd)
	if err != nil {
		tb.Fatalf("NewRequest: %v", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

// onceReader hides the body's length so that requests are sent chunked.
type onceReader struct{ s string }

func (r *onceReader) Read(b []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(b, r.s)
	r.s = r.s[n:]
	return n, nil
}

// mesh is the mTLS material of a test run.
type mesh struct {
	ca *CA
}

func newMesh(tb testing.TB) *mesh {
	tb.Helper()
	ca, err := GenerateCA("run-test")
	if err != nil {
		tb.Fatalf("GenerateCA: %v", err)
	}
	return &mesh{ca: ca}
}

// tls returns the mTLS material of a proxy holding service's identity,
// valid for validity, that allows peers.
func (m *mesh) tls(tb testing.TB, service string, validity time.Duration, peers ...string) *TLSConfig {
	tb.Helper()
	id, err := IssueIdentity(m.ca, service, validity)
	if err != nil {
		tb.Fatalf("IssueIdentity(%s): %v", service, err)
	}
	return m.ca.TLSConfig(id, peers...)
}
