package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
)

// isH2 reports whether a downstream connection opens with the HTTP/2
// client preface (h2c with prior knowledge, as gRPC speaks it). It peeks
// only as far as the bytes keep matching, so a short HTTP/1 request never
// waits for more than it sent.
func isH2(br *bufio.Reader) (bool, error) {
	preface := []byte(http2.ClientPreface)
	for n := 1; n <= len(preface); n++ {
		b, err := br.Peek(n)
		if err != nil {
			return false, err
		}
		if !bytes.HasPrefix(preface, b) {
			return false, nil
		}
	}
	return true, nil
}

// serveH2 serves an h2c connection whose preface br holds: every stream is
// a request, balanced and counted on its own like an HTTP/1 request, and
// forwarded over HTTP/2 connections the endpoint keeps (h2pool).
func (p *Proxy) serveH2(ctx context.Context, down net.Conn, br *bufio.Reader, dst netip.AddrPort, direct bool) error {
	conn := &bufConn{Conn: down, r: br, written: &p.stats.bytesDown}
	srv := &http2.Server{}
	srv.ServeConn(conn, &http2.ServeConnOpts{
		Context: ctx,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.stats.requests.Add(1)
			if err := p.forwardH2(r.Context(), w, r, dst, direct); err != nil && ctx.Err() == nil {
				p.log.Warn("h2 request failed", "client", down.RemoteAddr().String(), "err", err)
				p.stats.errors.Add(1)
			}
		}),
	})
	return nil
}

// forwardH2 sends one HTTP/2 request upstream and streams the response,
// trailers included (gRPC's status travels in them), back to w.
func (p *Proxy) forwardH2(ctx context.Context, w http.ResponseWriter, r *http.Request, dst netip.AddrPort, direct bool) error {
	ep := p.routes.lookup(dst, direct)
	ep.requests.Add(1)
	out := r.Clone(ctx)
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "http", ep.addr.String()
	trailers := out.Header.Get("Te") == "trailers"
	removeHopHeaders(out.Header)
	if trailers {
		out.Header.Set("Te", "trailers")
	}
	resp, done, err := p.roundTripH2(ctx, ep, out)
	if err != nil {
		ep.errors.Add(1)
		w.WriteHeader(http.StatusBadGateway)
		return fmt.Errorf("forward %s %s to %s: %w", r.Method, r.URL, ep.addr, err)
	}
	defer done()
	defer resp.Body.Close()
	removeHopHeaders(resp.Header)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if err := copyFlushing(w, resp.Body); err != nil {
		ep.errors.Add(1)
		return fmt.Errorf("relay response from %s: %w", ep.addr, err)
	}
	for k, v := range resp.Trailer {
		w.Header()[http.TrailerPrefix+k] = v
	}
	return nil
}

// copyFlushing copies a response body to w, flushing after every read so
// that a streamed response is not held back.
func copyFlushing(w http.ResponseWriter, body io.Reader) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// roundTripH2 sends req on one of ep's HTTP/2 connections that can take a
// stream, dialling a new one (along ep's hop: tunnel, mTLS) when none can.
// The caller calls done once it has read the response: a transient
// endpoint, which keeps no connections, closes its own then.
func (p *Proxy) roundTripH2(ctx context.Context, ep *endpoint, req *http.Request) (resp *http.Response, done func(), err error) {
	done = func() {}
	var cc *http2.ClientConn
	if ep.transient {
		up, c, err := p.dialH2(ctx, ep)
		if err != nil {
			return nil, nil, err
		}
		cc, done = c, func() { p.closeUp(up) }
	} else if cc, err = ep.h2.get(ctx, p, ep); err != nil {
		return nil, nil, err
	}
	resp, err = cc.RoundTrip(req)
	if err != nil {
		done()
		return nil, nil, err
	}
	return resp, done, nil
}

// dialH2 opens an HTTP/2 connection to ep along its hop.
func (p *Proxy) dialH2(ctx context.Context, ep *endpoint) (*upConn, *http2.ClientConn, error) {
	up, err := p.dial(ctx, ep)
	if err != nil {
		return nil, nil, err
	}
	conn := &bufConn{Conn: up.conn, r: up.br, written: &p.stats.bytesUp}
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(conn)
	if err != nil {
		p.closeUp(up)
		return nil, nil, fmt.Errorf("open http2 connection to %s: %w", ep.addr, err)
	}
	return up, cc, nil
}

// h2pool holds an endpoint's upstream HTTP/2 connections.
type h2pool struct {
	mu    sync.Mutex // held while dialling: concurrent streams wait for one connection
	conns []h2conn
}

type h2conn struct {
	cc *http2.ClientConn
	up *upConn
}

// get returns a connection to ep with a stream reserved on it, dialling one
// when none can take another. It closes and drops the connections that are
// done: unable to take streams and carrying none.
func (pl *h2pool) get(ctx context.Context, p *Proxy, ep *endpoint) (*http2.ClientConn, error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	var found *http2.ClientConn
	kept := pl.conns[:0]
	for _, c := range pl.conns {
		if found == nil && c.cc.ReserveNewRequest() {
			found = c.cc
		}
		if st := c.cc.State(); st.Closed || (st.Closing && st.StreamsActive == 0) {
			p.closeUp(c.up)
			continue
		}
		kept = append(kept, c)
	}
	clear(pl.conns[len(kept):])
	pl.conns = kept
	if found != nil {
		return found, nil
	}
	up, cc, err := p.dialH2(ctx, ep)
	if err != nil {
		return nil, err
	}
	pl.conns = append(pl.conns, h2conn{cc, up})
	return cc, nil
}

// bufConn is a connection whose reads come first from r (which holds bytes
// already read from it) and whose writes are counted in written.
type bufConn struct {
	net.Conn
	r       *bufio.Reader
	written *atomic.Uint64
}

func (c *bufConn) Read(b []byte) (int, error) {
	if c.r == nil {
		return c.Conn.Read(b)
	}
	return c.r.Read(b)
}

func (c *bufConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(uint64(n))
	return n, err
}
