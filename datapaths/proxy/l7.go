package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// hopHeaders are the hop-by-hop headers a proxy does not forward (RFC 9110
// section 7.6.1), besides those its Connection header names.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopHeaders {
		delete(h, name)
	}
}

// serveL7 serves a downstream connection at l7: HTTP/2 when it opens with
// the client preface, HTTP/1 otherwise.
func (p *Proxy) serveL7(ctx context.Context, down net.Conn, br *bufio.Reader, dst netip.AddrPort, direct bool) error {
	h2, err := isH2(br)
	if err != nil {
		if endOfStream(err) {
			return nil
		}
		return fmt.Errorf("read request: %w", err)
	}
	if h2 {
		return p.serveH2(ctx, down, br, dst, direct)
	}
	return p.serveHTTP(ctx, down, br, dst, direct)
}

// serveHTTP reads requests from a downstream connection until it ends,
// forwarding each to dst (a VIP is balanced per request).
func (p *Proxy) serveHTTP(ctx context.Context, down net.Conn, br *bufio.Reader, dst netip.AddrPort, direct bool) error {
	bw := bufio.NewWriter(countWriter{down, &p.stats.bytesDown})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if endOfStream(err) {
				return nil
			}
			writeError(bw, http.StatusBadRequest)
			return fmt.Errorf("read request: %w", err)
		}
		p.stats.requests.Add(1)
		keep, err := p.forward(ctx, req, bw, dst, direct)
		if err != nil || !keep {
			return err
		}
	}
}

// endOfStream tells a client going away between requests from a broken
// request.
func endOfStream(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET)
}

// writeError answers a request the proxy could not forward, closing the
// connection.
func writeError(bw *bufio.Writer, code int) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code, http.StatusText(code))
	bw.Flush()
}

// forward sends one request upstream and streams the response back. It
// reports whether the downstream connection stays open for more requests.
func (p *Proxy) forward(ctx context.Context, req *http.Request, bw *bufio.Writer, dst netip.AddrPort, direct bool) (keep bool, err error) {
	closeDown := req.Close
	removeHopHeaders(req.Header)
	req.Close = false
	if req.Host == "" {
		req.Host = dst.String()
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		// An empty value stops Request.Write from adding Go's own.
		req.Header["User-Agent"] = []string{""}
	}
	if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		// Answer for the upstream: Request.Write sends the body right away.
		req.Header.Del("Expect")
		if err := writeInterim(bw, http.StatusContinue); err != nil {
			return false, fmt.Errorf("answer 100-continue: %w", err)
		}
	}

	ep := p.routes.lookup(dst, direct)
	ep.requests.Add(1)
	resp, up, err := p.exchange(ctx, ep, req, bw)
	if err != nil {
		ep.errors.Add(1)
		writeError(bw, http.StatusBadGateway)
		return false, fmt.Errorf("forward %s %s to %s: %w", req.Method, req.URL, ep.addr, err)
	}

	upstreamKeeps := !resp.Close
	removeHopHeaders(resp.Header)
	resp.Close = closeDown
	// Response.Write closes a body delimited by the connection's end.
	closeDelimited := resp.ContentLength < 0 && !isChunked(resp.TransferEncoding)
	var w io.Writer = bw
	if resp.ContentLength < 0 {
		// A body of unknown length may trickle (server-sent events):
		// deliver what arrived before waiting for more.
		resp.Body = &flushingBody{ReadCloser: resp.Body, bw: bw, src: up.br}
		w = struct{ io.Writer }{bw} // hide ReadFrom: it would read into bw's buffer
	}
	if err := resp.Write(w); err != nil {
		p.closeUp(up)
		ep.errors.Add(1)
		return false, fmt.Errorf("relay response from %s: %w", ep.addr, err)
	}
	// The body is read: the connection is free before the client sees the
	// end of the response, so its next request can reuse it.
	if !upstreamKeeps || ep.transient || !ep.pool.put(up, time.Now()) {
		p.closeUp(up)
	}
	if err := bw.Flush(); err != nil {
		return false, fmt.Errorf("relay response to client: %w", err)
	}
	return !closeDown && !closeDelimited, nil
}

func isChunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }

func writeInterim(bw *bufio.Writer, code int) error {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n\r\n", code, http.StatusText(code))
	return bw.Flush()
}

// exchange writes req on a pooled or new connection to ep and reads the
// final response head, passing informational (1xx) responses on to bw. A
// request without a body that fails on a reused connection (which the
// upstream may have closed while idle) is retried once on a new one.
func (p *Proxy) exchange(ctx context.Context, ep *endpoint, req *http.Request, bw *bufio.Writer) (*http.Response, *upConn, error) {
	for retried := false; ; retried = true {
		up, reused, err := p.getConn(ctx, ep)
		if err != nil {
			return nil, nil, err
		}
		resp, err := roundTrip(up, req, bw)
		if err == nil {
			return resp, up, nil
		}
		p.closeUp(up)
		if !reused || retried || req.Body != http.NoBody {
			return nil, nil, err
		}
	}
}

func roundTrip(up *upConn, req *http.Request, bw *bufio.Writer) (*http.Response, error) {
	if err := req.Write(up.bw); err != nil {
		return nil, fmt.Errorf("write request: %w", err)
	}
	if err := up.bw.Flush(); err != nil {
		return nil, fmt.Errorf("write request: %w", err)
	}
	for {
		resp, err := http.ReadResponse(up.br, req)
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if err := resp.Write(bw); err != nil {
			return nil, fmt.Errorf("relay %d response: %w", resp.StatusCode, err)
		}
		if err := bw.Flush(); err != nil {
			return nil, fmt.Errorf("relay %d response: %w", resp.StatusCode, err)
		}
	}
}

// getConn takes an idle connection from ep's pool or dials a new one.
func (p *Proxy) getConn(ctx context.Context, ep *endpoint) (up *upConn, reused bool, err error) {
	up, stale := ep.pool.get(time.Now())
	for _, s := range stale {
		p.closeUp(s)
	}
	if up != nil {
		return up, true, nil
	}
	up, err = p.dial(ctx, ep)
	if err != nil {
		return nil, false, err
	}
	if up.br == nil {
		up.br = bufio.NewReader(up.conn)
	}
	up.bw = bufio.NewWriter(countWriter{up.conn, &p.stats.bytesUp})
	return up, false, nil
}

// flushingBody flushes the downstream writer before a read of the upstream
// body could block.
type flushingBody struct {
	io.ReadCloser
	bw  *bufio.Writer
	src *bufio.Reader
}

func (f *flushingBody) Read(b []byte) (int, error) {
	if f.src.Buffered() == 0 && f.bw.Buffered() > 0 {
		if err := f.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return f.ReadCloser.Read(b)
}
