package agent

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    response
		wantErr string
		// rest is what br holds after the response.
		rest string
	}{
		{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT",
			want: response{code: 200, bodyBytes: 5, keepAlive: true}, rest: "NEXT"},
		{name: "no reason, bare LF", in: "HTTP/1.1 503\nContent-Length: 0\n\n",
			want: response{code: 503, keepAlive: true}},
		{name: "chunked with extension and trailer", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: 1\r\n\r\nNEXT",
			want: response{code: 200, bodyBytes: 13, keepAlive: true}, rest: "NEXT"},
		{name: "chunked wins over content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
			want: response{code: 200, bodyBytes: 1, keepAlive: true}},
		{name: "connection close", in: "HTTP/1.1 200 OK\r\nconnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nhi",
			want: response{code: 200, bodyBytes: 2}},
		{name: "delimited by close", in: "HTTP/1.1 200 OK\r\n\r\nuntil the end",
			want: response{code: 200, bodyBytes: 13}},
		{name: "http/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
			want: response{code: 200, bodyBytes: 1}},
		{name: "http/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
			want: response{code: 200, bodyBytes: 1, keepAlive: true}},
		{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\nNEXT",
			want: response{code: 204, keepAlive: true}, rest: "NEXT"},
		{name: "1xx skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
			want: response{code: 201, bodyBytes: 1, keepAlive: true}},
		{name: "equal content-lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
			want: response{code: 200, bodyBytes: 1, keepAlive: true}},
		{name: "closed before answering", in: "", wantErr: errClosedIdle.Error()},
		{name: "truncated status line", in: "HTTP/1.1 200", wantErr: "unexpected EOF"},
		{name: "not http", in: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: "malformed status line"},
		{name: "http/2", in: "HTTP/2 200 OK\r\n\r\n", wantErr: "not HTTP/1.x"},
		{name: "bad code", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: "malformed status code"},
		{name: "code below 100", in: "HTTP/1.1 099 OK\r\n\r\n", wantErr: "malformed status code"},
		{name: "switching protocols", in: "HTTP/1.1 101 Switching Protocols\r\n\r\n", wantErr: "switched protocols"},
		{name: "negative length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: "malformed Content-Length"},
		{name: "signed length", in: "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", wantErr: "malformed Content-Length"},
		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", wantErr: "conflicting Content-Length"},
		{name: "gzip", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: "unsupported Transfer-Encoding"},
		{name: "header without colon", in: "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", wantErr: "malformed header line"},
		{name: "space before colon", in: "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", wantErr: "malformed header line"},
		{name: "short body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", wantErr: "unexpected EOF"},
		{name: "headers cut", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n", wantErr: "unexpected EOF"},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: "malformed chunk size"},
		{name: "chunk without line end", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", wantErr: "not followed by a line end"},
		{name: "chunks cut", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", wantErr: "unexpected EOF"},
		{name: "huge chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n", wantErr: "exceeds"},
		{name: "huge length", in: "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n", wantErr: "unexpected EOF"},
		{name: "header line too long", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", leanReadBuffer) + "\r\n\r\n", wantErr: "longer than"},
		{name: "too many headers", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: "+strings.Repeat("a", 1000)+"\r\n", 70) + "\r\n", wantErr: "headers exceed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), leanReadBuffer)
			got, err := readResponse(br)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readResponse(%q) = %+v, %v; want error containing %q", clip([]byte(tt.in)), got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("readResponse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if rest, _ := io.ReadAll(br); string(rest) != tt.rest {
				t.Errorf("left %q unread, want %q", rest, tt.rest)
			}
		})
	}
}

// scriptServer accepts connections on loopback and runs answer on each,
// with a reader of the client's requests.
func scriptServer(t *testing.T, answer func(c net.Conn, br *bufio.Reader)) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				answer(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}

// answerHTTP reads requests with net/http and writes resp after each,
// closing the connection after each response when closeAfter is set.
func answerHTTP(t *testing.T, resp string, closeAfter bool, requests chan<- *http.Request) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		defer c.Close()
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			n, err := io.Copy(io.Discard, req.Body)
			if err != nil || n != req.ContentLength {
				t.Errorf("request body: %d bytes, %v; want %d", n, err, req.ContentLength)
				return
			}
			if requests != nil {
				requests <- req
			}
			if _, err := io.WriteString(c, resp); err != nil || closeAfter {
				return
			}
		}
	}
}

func newTestLean(t *testing.T, addr string, requestBytes int, timeout time.Duration) *leanHTTP {
	t.Helper()
	h := newLeanHTTP([]string{"http://" + addr + "/echo?x=1"}, LoadOptions{Connections: 1, RequestBytes: requestBytes, Timeout: timeout}, newDialer())
	t.Cleanup(h.close)
	return h
}

// The lean client sends what net/http reads as the scenario's request, and
// one connection carries every exchange, whatever delimits the bodies.
func TestLeanHTTPKeepsAlive(t *testing.T) {
	for _, tt := range []struct {
		name, resp   string
		requestBytes int
		method       string
		bytesIn      uint32
	}{
		{name: "GET, content-length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", method: http.MethodGet, bytesIn: 3},
		{name: "POST, chunked", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n", requestBytes: 100, method: http.MethodPost, bytesIn: 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requests := make(chan *http.Request, 10)
			addr, accepted := scriptServer(t, answerHTTP(t, tt.resp, false, requests))
			h := newTestLean(t, addr, tt.requestBytes, time.Minute)
			for i := range 5 {
				o := h.exchange(t.Context(), 0)
				if o.err != nil || o.code != 200 || o.bytesIn != tt.bytesIn {
					t.Fatalf("exchange %d = %+v, want code 200, %d bytes in", i, o, tt.bytesIn)
				}
				req := <-requests
				if req.Method != tt.method || req.RequestURI != "/echo?x=1" || req.Host != addr || req.ContentLength != int64(tt.requestBytes) {
					t.Errorf("server read %s %s Host %s with %d body bytes, want %s /echo?x=1 Host %s with %d", req.Method, req.RequestURI, req.Host, req.ContentLength, tt.method, addr, tt.requestBytes)
				}
			}
			if got, dials := accepted(), h.dialer.n.Load(); got != 1 || dials != 1 {
				t.Errorf("server accepted %d connections, client dialled %d, want 1 each (keep-alive)", got, dials)
			}
		})
	}
}

// A server that closes: with Connection: close the client dials anew for
// the next request; without it, a GET that finds the connection closed
// goes once more on a new one. Either way every exchange succeeds, one
// connection each. A POST is not sent again: it fails.
func TestLeanHTTPServerCloses(t *testing.T) {
	for name, resp := range map[string]string{
		"connection close": "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		"silent close":     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	} {
		t.Run(name, func(t *testing.T) {
			addr, accepted := scriptServer(t, answerHTTP(t, resp, true, nil))
			h := newTestLean(t, addr, 0, time.Minute)
			for i := range 3 {
				if o := h.exchange(t.Context(), 0); o.err != nil || o.code != 200 || o.bytesIn != 2 {
					t.Fatalf("exchange %d = %+v, want code 200, 2 bytes in", i, o)
				}
			}
			if got := accepted(); got != 3 {
				t.Errorf("server accepted %d connections, want 3 (one per exchange)", got)
			}
		})
	}
	addr, accepted := scriptServer(t, answerHTTP(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true, nil))
	h := newTestLean(t, addr, 10, time.Minute)
	if o := h.exchange(t.Context(), 0); o.err != nil {
		t.Fatalf("first POST = %+v, want it answered", o)
	}
	o := h.exchange(t.Context(), 0)
	if !errors.Is(o.err, errClosedIdle) {
		t.Errorf("POST on the closed connection = %+v, want it failed, not sent again", o)
	}
	if got := accepted(); got != 1 {
		t.Errorf("server accepted %d connections, want 1: a POST goes once", got)
	}
}

// A connection that breaks mid-response fails its exchange without a
// retry, and the next exchange dials anew.
func TestLeanHTTPBrokenResponse(t *testing.T) {
	var n sync.Mutex
	first := true
	addr, accepted := scriptServer(t, func(c net.Conn, br *bufio.Reader) {
		defer c.Close()
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			n.Lock()
			cut := first
			first = false
			n.Unlock()
			if cut {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
				return
			}
			io.WriteString(c, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
		}
	})
	h := newTestLean(t, addr, 0, time.Minute)
	if o := h.exchange(t.Context(), 0); o.err == nil || !strings.Contains(o.err.Error(), "unexpected EOF") {
		t.Fatalf("exchange on a cut response = %+v, want an unexpected EOF", o)
	}
	if o := h.exchange(t.Context(), 0); o.err != nil || o.code != 500 {
		t.Fatalf("next exchange = %+v, want code 500 on a new connection", o)
	}
	if got := accepted(); got != 2 {
		t.Errorf("server accepted %d connections, want 2", got)
	}
	s := &schedule{interval: time.Millisecond}
	if smp := s.sampleOf(0, time.Now(), time.Now(), outcome{code: 500}); smp.Error != "unexpected status 500" || smp.Code != 500 {
		t.Errorf("sample of a 500 = %+v, want code 500 and an error, as vegeta's", smp)
	}
}

// A server that never answers: the exchange fails by its timeout, and so
// does one that waits meanwhile for the busy connection; an exchange cut
// off when the attack's context ends says so.
func TestLeanHTTPTimeoutAndCancel(t *testing.T) {
	addr, _ := scriptServer(t, func(c net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) })
	h := newTestLean(t, addr, 0, 50*time.Millisecond)
	outcomes := make(chan outcome, 2)
	for range 2 {
		go func() { outcomes <- h.exchange(t.Context(), 0) }()
	}
	for range 2 {
		if o := <-outcomes; !errors.Is(o.err, context.DeadlineExceeded) {
			t.Errorf("exchange with a silent server = %+v, want the timeout", o)
		}
	}

	h = newTestLean(t, addr, 0, time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { outcomes <- h.exchange(ctx, 0) }()
	time.Sleep(10 * time.Millisecond) // let it send
	cancel()
	if o := <-outcomes; !errors.Is(o.err, context.Canceled) {
		t.Errorf("exchange when the attack ended = %+v, want context canceled", o)
	}
}

// An exchange that waits for its target's only connection is sent when it
// gets it, not when it began waiting: its actual send time (outcome.sent),
// from which latency is compared with closed-loop tools, comes after the
// response that held the connection. Holds for the lean HTTP/1.1 client
// and tcp-rr, the exchangers with connection pools.
func TestExchangeSentAfterConnectionWait(t *testing.T) {
	const size = 16
	for name, tt := range map[string]struct {
		read func(br *bufio.Reader) error
		resp string
		x    func(addr string) exchanger
	}{
		"http1": {
			read: func(br *bufio.Reader) error { _, err := http.ReadRequest(br); return err },
			resp: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			x:    func(addr string) exchanger { return newTestLean(t, addr, 0, time.Minute) },
		},
		"tcp-rr": {
			read: func(br *bufio.Reader) error { _, err := io.ReadFull(br, make([]byte, size)); return err },
			resp: strings.Repeat("x", size),
			x: func(addr string) exchanger {
				r := newTCPRR([]string{addr}, LoadOptions{Connections: 1, RequestBytes: size, ResponseBytes: size, Timeout: time.Minute}, newDialer())
				t.Cleanup(r.close)
				return r
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, release := make(chan struct{}, 2), make(chan struct{}, 2)
			addr, _ := scriptServer(t, func(c net.Conn, br *bufio.Reader) {
				defer c.Close()
				for tt.read(br) == nil {
					got <- struct{}{}
					<-release
					if _, err := io.WriteString(c, tt.resp); err != nil {
						return
					}
				}
			})
			x := tt.x(addr)
			first := make(chan outcome)
			go func() { first <- x.exchange(t.Context(), 0) }()
			<-got
			second := make(chan outcome)
			go func() { second <- x.exchange(t.Context(), 0) }()
			// The second exchange waits for the connection, however long
			// it is held.
			time.Sleep(10 * time.Millisecond)
			released := time.Now()
			release <- struct{}{}
			o1 := <-first
			<-got
			release <- struct{}{}
			o2 := <-second
			if o1.err != nil || o2.err != nil {
				t.Fatalf("exchanges: %v, %v", o1.err, o2.err)
			}
			if o2.sent.Before(released) {
				t.Errorf("second exchange sent at %v, %v before the first's response freed the connection", o2.sent, released.Sub(o2.sent))
			}
		})
	}
}

// With ConnectionRequests, the lean client and tcp-rr close each
// connection after that many requests and open a new one for the next:
// 7 exchanges at 3 per connection take 3 connections, every one answered.
func TestConnectionRequests(t *testing.T) {
	const size, perConn, exchanges = 8, 3, 7
	for name, tt := range map[string]struct {
		answer func(t *testing.T) func(net.Conn, *bufio.Reader)
		x      func(addr string) exchanger
	}{
		"http1": {
			answer: func(t *testing.T) func(net.Conn, *bufio.Reader) {
				return answerHTTP(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, nil)
			},
			x: func(addr string) exchanger {
				h := newLeanHTTP([]string{"http://" + addr + "/"}, LoadOptions{Connections: 1, Timeout: time.Minute, ConnectionRequests: perConn}, newDialer())
				t.Cleanup(h.close)
				return h
			},
		},
		"tcp-rr": {
			answer: func(*testing.T) func(net.Conn, *bufio.Reader) {
				return func(c net.Conn, br *bufio.Reader) {
					defer c.Close()
					buf := make([]byte, size)
					for {
						if _, err := io.ReadFull(br, buf); err != nil {
							return
						}
						if _, err := c.Write(buf); err != nil {
							return
						}
					}
				}
			},
			x: func(addr string) exchanger {
				r := newTCPRR([]string{addr}, LoadOptions{Connections: 1, RequestBytes: size, ResponseBytes: size, Timeout: time.Minute, ConnectionRequests: perConn}, newDialer())
				t.Cleanup(r.close)
				return r
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			addr, accepted := scriptServer(t, tt.answer(t))
			x := tt.x(addr)
			for i := range exchanges {
				if o := x.exchange(t.Context(), 0); o.err != nil || o.code != 200 {
					t.Fatalf("exchange %d = %+v, want code 200", i, o)
				}
			}
			if got, want := accepted(), (exchanges+perConn-1)/perConn; got != want {
				t.Errorf("server accepted %d connections for %d exchanges at %d per connection, want %d", got, exchanges, perConn, want)
			}
		})
	}
}
