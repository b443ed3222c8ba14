package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// tcpSize is the size of a tcp-rr or tcp-crr message of n bytes as sent: at
// least 1, since an empty message cannot be told from none.
func tcpSize(n int) int { return max(n, 1) }

// maxReadBuffer bounds the buffer a message of up to 16 MiB is read
// through, which each connection holds.
const maxReadBuffer = 64 << 10

// readBuffer is a buffer to read a message of n bytes through.
func readBuffer(n int) []byte { return make([]byte, min(n, maxReadBuffer)) }

// readN reads and drops exactly n bytes from r through buf.
func readN(r io.Reader, n int, buf []byte) (int, error) {
	read := 0
	for read < n {
		m, err := io.ReadFull(r, buf[:min(len(buf), n-read)])
		read += m
		if err != nil {
			return read, err
		}
	}
	return read, nil
}

// tcpConn is a persistent tcp-rr connection slot; conn is nil until
// dialled and after a failure.
type tcpConn struct {
	conn net.Conn
	buf  []byte
	uses int
}

// tcpRR exchanges fixed-size messages on persistent connections: each
// target's pool holds Connections slots, an exchange takes one (waiting,
// within its timeout, when all are busy) and dials it if it has no
// connection.
type tcpRR struct {
	addrs   []string
	pools   []chan *tcpConn
	req     []byte
	resp    int
	timeout time.Duration
	dialer  *dialer
	// perConn closes a connection after that many exchanges; 0 never.
	perConn int
}

func newTCPRR(addrs []string, o LoadOptions, d *dialer) *tcpRR {
	t := &tcpRR{addrs: addrs, req: make([]byte, tcpSize(o.RequestBytes)), resp: tcpSize(o.ResponseBytes), timeout: o.Timeout, dialer: d, perConn: o.ConnectionRequests}
	for range addrs {
		pool := make(chan *tcpConn, o.Connections)
		for range o.Connections {
			pool <- &tcpConn{buf: readBuffer(t.resp)}
		}
		t.pools = append(t.pools, pool)
	}
	return t
}

func (t *tcpRR) exchange(ctx context.Context, target int) outcome {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var c *tcpConn
	select {
	case c = <-t.pools[target]:
	case <-ctx.Done():
		return outcome{err: fmt.Errorf("wait for a connection to %s: %w", t.addrs[target], ctx.Err())}
	}
	defer func() { t.pools[target] <- c }()
	if c.conn == nil {
		conn, err := t.dialer.DialContext(ctx, "tcp", t.addrs[target])
		if err != nil {
			return outcome{err: err}
		}
		c.conn, c.uses = conn, 0
	}
	sent := time.Now()
	n, reusable, err := roundTrip(ctx, c.conn, t.req, t.resp, c.buf)
	c.uses++
	if err != nil || !reusable || c.uses == t.perConn {
		c.conn.Close()
		c.conn = nil
	}
	if err != nil {
		return outcome{err: err, sent: sent}
	}
	return outcome{code: exchangeOK, bytesIn: uint32(n), sent: sent}
}

func (t *tcpRR) close() {
	for _, pool := range t.pools {
		for range cap(pool) {
			if c := <-pool; c.conn != nil {
				c.conn.Close()
			}
		}
	}
}

// roundTrip writes req to conn and reads a response of resp bytes through
// buf, cut off when ctx ends. reusable is false when ctx ended as the
// exchange did: the deadline that cuts it off may be set on conn by now.
func roundTrip(ctx context.Context, conn net.Conn, req []byte, resp int, buf []byte) (n int, reusable bool, err error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	if _, err := conn.Write(req); err != nil {
		stop()
		return 0, false, ctxErr(ctx, fmt.Errorf("write request: %w", err))
	}
	n, err = readN(conn, resp, buf)
	reusable = stop()
	if err != nil {
		return n, false, ctxErr(ctx, fmt.Errorf("read response: %w", err))
	}
	return n, reusable, nil
}

// ctxErr names ctx's end, when it ended, before err: the deadline
// roundTrip set on the connection is only how it cut the exchange off.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// tcpCRR opens a connection per exchange: connect, request, response,
// then it waits for the server's close, so that the TIME_WAIT state stays
// on the server's side, as with netperf's TCP_CRR. The exchange, and its
// latency, ends with that close.
type tcpCRR struct {
	addrs   []string
	req     []byte
	resp    int
	timeout time.Duration
	dialer  *dialer
}

func newTCPCRR(addrs []string, o LoadOptions, d *dialer) *tcpCRR {
	return &tcpCRR{addrs: addrs, req: make([]byte, tcpSize(o.RequestBytes)), resp: tcpSize(o.ResponseBytes), timeout: o.Timeout, dialer: d}
}

func (t *tcpCRR) exchange(ctx context.Context, target int) outcome {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	start := time.Now()
	conn, err := t.dialer.DialContext(ctx, "tcp", t.addrs[target])
	if err != nil {
		return outcome{err: err}
	}
	connect := time.Since(start)
	defer conn.Close()
	// The wait for the server's close, after roundTrip, is cut off too.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := readBuffer(t.resp)
	n, _, err := roundTrip(ctx, conn, t.req, t.resp, buf)
	if err == nil {
		// The response is all there is: the next read must end at the
		// server's close, not with a byte too many.
		switch m, rerr := conn.Read(buf[:1]); {
		case m > 0:
			err = fmt.Errorf("read the server's close: got a byte past the %d-byte response", t.resp)
		case !errors.Is(rerr, io.EOF):
			err = ctxErr(ctx, fmt.Errorf("read the server's close: %w", rerr))
		}
	}
	if err != nil {
		return outcome{err: err}
	}
	return outcome{code: exchangeOK, bytesIn: uint32(n), connect: connect}
}

func (t *tcpCRR) close() {}

// tcpServer answers tcp-rr and tcp-crr exchanges: it reads a request of
// reqBytes and writes the response, on one connection until the client
// closes it (rr) or once, then closes (crr).
type tcpServer struct {
	e        *echo
	reqBytes int
	once     bool
	// ln and ctx are set by serve; close cancels ctx, which closes ln and
	// every connection.
	ctx    context.Context
	cancel context.CancelFunc
}

// serve accepts until close.
func (s *tcpServer) serve(ln net.Listener) error {
	ctx := s.ctx
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.e.conns.Add(1)
		go s.serveConn(ctx, conn)
	}
}

func (s *tcpServer) close() { s.cancel() }

func (s *tcpServer) serveConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	reqBytes := tcpSize(s.reqBytes)
	req := readBuffer(reqBytes)
	resp := s.e.body
	if len(resp) == 0 {
		resp = make([]byte, 1)
	}
	for {
		if _, err := readN(conn, reqBytes, req); err != nil {
			return // the client closed, or broke, the connection
		}
		if s.e.wait(ctx, s.e.requests.Add(1)) != nil {
			return
		}
		if _, err := conn.Write(resp); err != nil || s.once {
			return
		}
	}
}
