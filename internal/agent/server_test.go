package agent

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
)

func TestServer(t *testing.T) {
	tests := []struct {
		name          string
		responseBytes int
		requestBytes  int
	}{
		{name: "empty GET", responseBytes: 0},
		{name: "small GET", responseBytes: 100},
		{name: "large GET", responseBytes: 256 << 10},
		{name: "POST", responseBytes: 1000, requestBytes: 64 << 10},
	}
	const requests = 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := start(t, ServerOptions{Listen: "127.0.0.1:0", ResponseBytes: tt.responseBytes}.Args()...)
			client := &http.Client{Timeout: 10 * time.Second}
			t.Cleanup(client.CloseIdleConnections)
			for range requests {
				got := get(t, client, "http://"+srv.ready.Addr+"/", tt.requestBytes)
				if len(got) != tt.responseBytes {
					t.Errorf("response body = %d bytes, want %d", len(got), tt.responseBytes)
				}
			}
			if got := srv.stats(t)["requests"]; got != requests {
				t.Errorf("stats requests = %d, want %d", got, requests)
			}
		})
	}
}

func TestServerRefusesAttack(t *testing.T) {
	srv := start(t, "agent", "server", "--listen", "127.0.0.1:0")
	msgs := srv.do(t, wire.Command{Attack: &wire.Attack{Rate: 1, Duration: time.Second}})
	if got := msgs[len(msgs)-1].Err; got == "" {
		t.Errorf("attack on a server answered %+v, want Err", msgs[len(msgs)-1])
	}
}

// get sends a GET, or a POST of bodyBytes when > 0, and returns the body of
// a 200 response whose Content-Length matches it.
func get(tb testing.TB, client *http.Client, url string, bodyBytes int) []byte {
	tb.Helper()
	var (
		resp *http.Response
		err  error
	)
	if bodyBytes > 0 {
		resp, err = client.Post(url, "application/octet-stream", bytes.NewReader(make([]byte, bodyBytes)))
	} else {
		resp, err = client.Get(url)
	}
	if err != nil {
		tb.Fatalf("request %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read response: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Content-Length"), strconv.Itoa(len(body)); got != want {
		tb.Errorf("Content-Length = %q, want %q", got, want)
	}
	return body
}

// The h2c server speaks HTTP/2 with prior knowledge only: an HTTP/1.1
// client fails instead of measuring HTTP/1.1, and an h2c client is served
// over HTTP/2.
func TestServerH2COnly(t *testing.T) {
	srv := start(t, ServerOptions{Listen: "127.0.0.1:0", Protocol: H2C, ResponseBytes: 10}.Args()...)
	url := "http://" + srv.ready.Addr + "/"
	h1 := &http.Client{Timeout: 10 * time.Second}
	if resp, err := h1.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("HTTP/1.1 GET of the h2c server: %s, want it refused", resp.Status)
	}
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: newH2CConns(1, newDialer())}
	t.Cleanup(h2.CloseIdleConnections)
	resp, err := h2.Get(url)
	if err != nil {
		t.Fatalf("h2c GET: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Errorf("h2c GET: %s %s, want HTTP/2.0 200", resp.Proto, resp.Status)
	}
}

// The tcp-crr server answers a connection while one it accepted before
// still waits for its request, closes each connection after its response,
// and stops with the waiting one still open: close cuts off its blocked
// read (start's cleanup fails a server that does not stop).
func TestCRRServerAnswersWhileOneWaits(t *testing.T) {
	var held net.Conn
	t.Cleanup(func() { // after the server's own cleanup
		if held != nil {
			held.Close()
		}
	})
	srv := start(t, ServerOptions{Listen: "127.0.0.1:0", Protocol: TCPCRR, RequestBytes: 4, ResponseBytes: 8}.Args()...)
	var err error
	if held, err = net.Dial("tcp", srv.ready.Addr); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); srv.stats(t)["connections"] == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the server did not accept the first connection within 5 s")
		}
	}
	const exchanges = 3
	for range exchanges {
		c, err := net.Dial("tcp", srv.ready.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c) // to the server's close
		c.Close()
		if err != nil || len(got) != 8 {
			t.Fatalf("read %d bytes then %v, want the 8-byte response then the server's close", len(got), err)
		}
	}
	if st := srv.stats(t); st["connections"] != exchanges+1 || st["requests"] != exchanges {
		t.Errorf("stats %v, want %d connections and %d requests", st, exchanges+1, exchanges)
	}
}
