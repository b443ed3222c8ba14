package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestL7StreamsResponses(t *testing.T) {
	for _, c := range chains {
		t.Run(c.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				io.WriteString(w, "first")
				w.(http.Flusher).Flush()
				select { // hold the rest back until the client saw the first part
				case <-release:
				case <-time.After(5 * time.Second):
				}
				io.WriteString(w, "second")
			}))
			t.Cleanup(srv.Close)
			addr := srv.Listener.Addr().(*net.TCPAddr).AddrPort()
			entry, _ := c.build(t, L7, addr)
			resp, err := clientVia(t, entry, true).Get("http://" + addr.String() + "/")
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			defer resp.Body.Close()
			start := time.Now()
			first := make([]byte, len("first"))
			if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
				t.Fatalf("got %q, %v; want %q", first, err, "first")
			}
			if waited := time.Since(start); waited > 2*time.Second {
				t.Errorf("first part arrived after %v: the proxy held the response back", waited)
			}
			close(release)
			if rest, err := io.ReadAll(resp.Body); err != nil || string(rest) != "second" {
				t.Errorf("got rest %q, %v; want %q", rest, err, "second")
			}
		})
	}
}

func TestL7ExpectContinue(t *testing.T) {
	srv := newEchoServer(t)
	p := startProxy(t, Config{Mode: L7, Outbound: loopback, OrigDst: fixedDst(srv.addr)})
	conn, err := net.Dial("tcp4", p.Addrs().Outbound.String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "POST /up HTTP/1.1\r\nHost: %s\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", srv.addr)
	interim, err := http.ReadResponse(br, nil)
	if err != nil || interim.StatusCode != http.StatusContinue {
		t.Fatalf("got interim response %v, %v; want 100 Continue", interim, err)
	}
	io.WriteString(conn, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if want := "POST /up hello"; err != nil || string(body) != want {
		t.Errorf("got %q, %v; want %q", body, err, want)
	}
}

func TestL7ConnectionClose(t *testing.T) {
	srv := newEchoServer(t)
	p := startProxy(t, Config{Mode: L7, Outbound: loopback, OrigDst: fixedDst(srv.addr)})
	tests := []struct {
		name      string
		request   string
		wantClose bool
	}{
		{"keep-alive", "GET / HTTP/1.1\r\nHost: s\r\n\r\n", false},
		{"client asks to close", "GET / HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n", true},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp4", p.Addrs().Outbound.String())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			io.WriteString(conn, tt.request)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.Close != tt.wantClose {
				t.Errorf("got response Close %v, want %v", resp.Close, tt.wantClose)
			}
			// The proxy closes after a closing response, and only then.
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, err = br.ReadByte()
			if closed := err == io.EOF; closed != tt.wantClose {
				t.Errorf("connection closed %v (read: %v), want %v", closed, err, tt.wantClose)
			}
		})
	}
	// The upstream connection outlived every client's wish to close.
	waitStats(t, p, map[string]uint64{StatUpstreamConns: 1, UpstreamKey(srv.addr, "requests"): 3})
}
