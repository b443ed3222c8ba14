package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
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

// tcpCRR opens a connection per exchange, on blocking sockets
// (blockingSocket), in netperf's TCP_CRR order: connect, request,
// response, then it waits for the server's close, which the server sends
// after its response, and closes its side only then. So the server, which
// closed first, holds the TIME_WAIT state, not the client, whose ports
// would run out; as with TCP_CRR, the exchange, and its latency, ends
// with that close. The connect's own time is reported apart (outcome's
// connect).
type tcpCRR struct {
	addrs   []string
	sas     []unix.Sockaddr
	req     []byte
	resp    int
	timeout time.Duration
	dialer  *dialer
}

func newTCPCRR(addrs []string, o LoadOptions, d *dialer) (*tcpCRR, error) {
	t := &tcpCRR{addrs: addrs, req: make([]byte, tcpSize(o.RequestBytes)), resp: tcpSize(o.ResponseBytes), timeout: o.Timeout, dialer: d}
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			return nil, fmt.Errorf("tcp-crr target %s: %w", a, err)
		}
		sa, err := sockaddr(ap)
		if err != nil {
			return nil, fmt.Errorf("tcp-crr target: %w", err)
		}
		t.sas = append(t.sas, sa)
	}
	return t, nil
}

func (t *tcpCRR) exchange(ctx context.Context, target int) outcome {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	start := time.Now()
	conn, err := newBlockingSocket(t.sas[target])
	if err != nil {
		return outcome{err: err}
	}
	defer conn.close()
	// Every call from the connect to the wait for the server's close is
	// cut off when ctx ends.
	conn.watch(ctx)
	if err := conn.connect(t.sas[target]); err != nil {
		return outcome{err: ctxErr(ctx, fmt.Errorf("dial tcp %s: %w", t.addrs[target], err))}
	}
	t.dialer.opened()
	connect := time.Since(start)
	if _, err := conn.Write(t.req); err != nil {
		return outcome{err: ctxErr(ctx, fmt.Errorf("write request: %w", err))}
	}
	buf := readBuffer(t.resp)
	n, err := readN(conn, t.resp, buf)
	if err != nil {
		return outcome{err: ctxErr(ctx, fmt.Errorf("read response: %w", err))}
	}
	// The response is all there is: the next read must end at the
	// server's close, not with a byte too many.
	switch m, err := conn.Read(buf[:1]); {
	case m > 0:
		return outcome{err: fmt.Errorf("read the server's close: got a byte past the %d-byte response", t.resp)}
	case !errors.Is(err, io.EOF):
		return outcome{err: ctxErr(ctx, fmt.Errorf("read the server's close: %w", err))}
	}
	return outcome{code: exchangeOK, bytesIn: uint32(n), connect: connect}
}

func (t *tcpCRR) close() {}

// tcpServer answers tcp-rr exchanges: on each connection, until the
// client closes it, it reads a request of reqBytes and writes the
// response.
type tcpServer struct {
	e        *echo
	reqBytes int
	// ctx is cancelled by close, which closes the listener and every
	// connection.
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
	req := readBuffer(tcpSize(s.reqBytes))
	for s.e.answer(ctx, conn, s.reqBytes, req) == nil {
	}
}

// answer reads a tcp-rr or tcp-crr request of reqBytes from conn through
// buf, waits the service time and writes the response; an error ends the
// connection (the client closed or broke it, or ctx ended).
func (e *echo) answer(ctx context.Context, conn io.ReadWriter, reqBytes int, buf []byte) error {
	if _, err := readN(conn, tcpSize(reqBytes), buf); err != nil {
		return err
	}
	if err := e.wait(ctx, e.requests.Add(1)); err != nil {
		return err
	}
	resp := e.body
	if len(resp) == 0 {
		resp = make([]byte, 1)
	}
	_, err := conn.Write(resp)
	return err
}

// crrServer answers tcp-crr exchanges, one per connection: it reads a
// request of reqBytes, writes the response and closes the connection
// first (tcpCRR says why). Like netserver, it accepts and answers with
// blocking calls (blockingSocket says why), each acceptor answering the
// connection it accepted before it accepts again; one more acceptor
// starts whenever none is left waiting, so that as many connections are
// answered at once as arrive at once.
type crrServer struct {
	e        *echo
	reqBytes int
	// ctx is cancelled by close, which shuts the listener down and cuts
	// every connection off.
	ctx    context.Context
	cancel context.CancelFunc
}

// serve accepts until close.
func (s *crrServer) serve(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return fmt.Errorf("tcp-crr serves on a TCP listener, not on a %T", ln)
	}
	// The copy shares the listener's open file, which Fd puts in
	// blocking mode. The listener's own descriptor closes at once, the
	// socket staying open through the copy: Go's poller, which watches
	// that descriptor, would wake at each connection for nothing.
	f, err := tl.File()
	ln.Close()
	if err != nil {
		return fmt.Errorf("take the listener's socket: %w", err)
	}
	defer f.Close()
	lfd := int(f.Fd())
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// A shutdown wakes every acceptor blocked on the socket, which a
	// close would not.
	stop := context.AfterFunc(ctx, func() { unix.Shutdown(lfd, unix.SHUT_RDWR) })
	defer stop()
	var (
		wg      sync.WaitGroup
		waiting atomic.Int64
		failed  = make(chan error, 1)
		accept  func()
	)
	accept = func() {
		defer wg.Done()
		req := readBuffer(tcpSize(s.reqBytes))
		for {
			waiting.Add(1)
			fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
			if waiting.Add(-1) == 0 && err == nil {
				wg.Add(1)
				go accept()
			}
			switch {
			case err == unix.EINTR || err == unix.ECONNABORTED:
				continue
			case err != nil:
				if ctx.Err() == nil {
					select {
					case failed <- os.NewSyscallError("accept", err):
					default:
					}
					cancel() // and the other acceptors
				}
				return
			}
			s.e.conns.Add(1)
			conn := &blockingSocket{fd: fd}
			conn.watch(ctx)
			if conn.noDelay() == nil {
				s.e.answer(ctx, conn, s.reqBytes, req)
			}
			conn.close()
		}
	}
	wg.Add(1)
	go accept()
	wg.Wait()
	select {
	case err := <-failed:
		return err
	default:
		return nil
	}
}

func (s *crrServer) close() { s.cancel() }
