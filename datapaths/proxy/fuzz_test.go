package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// FuzzDecodeServices feeds the service-table decoder arbitrary bytes,
// seeded with the test tables: it must not panic, and a table it accepts
// must encode and decode back to itself.
func FuzzDecodeServices(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		services, err := decodeServices(data)
		if err != nil {
			return
		}
		enc, err := MarshalServices(services)
		if err != nil {
			t.Fatalf("accepted table %+v does not encode: %v", services, err)
		}
		back, err := decodeServices(enc)
		if err != nil || !reflect.DeepEqual(back, services) {
			t.Errorf("table %+v encoded as %s decodes as %+v (%v)", services, enc, back, err)
		}
	})
}

// FuzzReadConnect feeds the tunnel's CONNECT parser arbitrary requests: it
// must not panic, and what it accepts is an IPv4 address and port.
func FuzzReadConnect(f *testing.F) {
	f.Add("CONNECT 10.244.1.2:8080 HTTP/1.1\r\nHost: 10.244.1.2:8080\r\n\r\n")
	f.Add("CONNECT [::1]:80 HTTP/1.1\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\n\r\n")
	f.Add("CONNECT 10.0.0.1:0 HTTP/1.1\r\nX: \xff\r\n\r\n")
	f.Fuzz(func(t *testing.T, req string) {
		dst, err := readConnect(bufio.NewReader(strings.NewReader(req)))
		if err == nil && (!dst.IsValid() || !dst.Addr().Is4()) {
			t.Errorf("CONNECT %q accepted with target %v, want an IPv4 address and port", req, dst)
		}
	})
}

// FuzzL7 sends arbitrary bytes to an l7 proxy in front of an echo server,
// on loopback: whatever a client sends, the proxy must not crash, and must
// go on serving a well-formed request afterwards.
func FuzzL7(f *testing.F) {
	srv := newEchoServer(f)
	p := startProxy(f, Config{Mode: L7, Outbound: loopback, OrigDst: fixedDst(srv.addr)})
	entry := p.Addrs().Outbound
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nab"))
	f.Add([]byte("GET / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("\x00\xff garbage\r\n\r\n"))
	// The HTTP/2 preface (served as h2c), alone, cut short, and followed by
	// an empty SETTINGS frame and a HEADERS frame of garbage.
	f.Add([]byte(http2.ClientPreface))
	f.Add([]byte(http2.ClientPreface[:10]))
	f.Add([]byte(http2.ClientPreface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00" + "\x00\x00\x03\x01\x05\x00\x00\x00\x01abc"))
	client := clientVia(f, entry, false)
	f.Fuzz(func(t *testing.T, req []byte) {
		conn, err := net.DialTimeout("tcp4", entry.String(), time.Second)
		if err != nil {
			t.Fatalf("dial the proxy: %v", err)
		}
		conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
		conn.Write(req)
		conn.(*net.TCPConn).CloseWrite() // the proxy sees the request end
		io.Copy(io.Discard, conn)        // until the proxy closes or the deadline
		conn.Close()
		if body, err := get(t, client, srv.addr, http.MethodGet, "/after", ""); err != nil || body != "GET /after " {
			t.Fatalf("after %q the proxy answered a GET with %q, %v", req, body, err)
		}
	})
}
