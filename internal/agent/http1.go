package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// The clients of http1 and h2c (LoadOptions.Client): both send the same
// requests over the same connections, at most Connections per target, and
// measure from the same intended times.
const (
	// LeanClient is openLoop's workers, each of which waits for its
	// request's intended time and sends it itself: over leanHTTP for
	// http1 (a request serialised once, a response parsed in place, one
	// goroutine per request in flight) and over net/http's HTTP/2 client
	// for h2c. It is the default because it measured faster and on time:
	// in interleaved self-checks on a loaded 2-vCPU VM it achieved 100% of
	// 20,000 req/s of http1 where vegeta achieved 49%, at a third of
	// vegeta's CPU per request, and sent at 1,000 req/s 0.16 µs late at
	// the median where vegeta's workers were 37 µs late (README,
	// "Latency").
	LeanClient = "lean"
	// VegetaClient is vegeta's attacker over net/http: a pacer goroutine
	// hands each request to a worker, and net/http's HTTP/1.1 transport
	// runs two goroutines more per connection. It stays selectable to
	// cross-check the lean client on the same path.
	VegetaClient = "vegeta"
)

// Clients lists the clients of http1 and h2c.
var Clients = []string{LeanClient, VegetaClient}

// Bounds of a response the lean client reads: a longer header line or
// more header bytes in all fail the request.
const (
	leanReadBuffer = 4 << 10
	maxHeaderBytes = 64 << 10
)

// leanHTTP sends HTTP/1.1 requests on keep-alive connections: each
// target's pool holds Connections slots, an exchange takes one (waiting,
// within its timeout, when all are busy) and dials it if it has no
// connection. A GET that finds its reused connection closed by the server
// before any byte of the response came back is sent once more on a new
// one, as net/http does for idempotent requests; a POST fails.
type leanHTTP struct {
	addrs   []string
	reqs    [][]byte // per target, serialised once
	pools   []chan *leanConn
	timeout time.Duration
	dialer  *dialer
	// idempotent is set for GETs, the requests that may go again.
	idempotent bool
	// perConn closes a connection after that many requests; 0 never.
	perConn int
}

// leanConn is a connection slot; conn is nil until dialled and after a
// failure, or after its perConn requests.
type leanConn struct {
	uses int
	conn net.Conn
	br   *bufio.Reader
}

// newLeanHTTP builds the client of targets, http URLs that parseTargets
// checked.
func newLeanHTTP(targets []string, o LoadOptions, d *dialer) *leanHTTP {
	h := &leanHTTP{timeout: o.Timeout, dialer: d, idempotent: o.RequestBytes == 0, perConn: o.ConnectionRequests}
	for _, t := range targets {
		u, _ := url.Parse(t)
		h.addrs = append(h.addrs, u.Host)
		h.reqs = append(h.reqs, serialiseRequest(u, o.RequestBytes))
		pool := make(chan *leanConn, o.Connections)
		for range o.Connections {
			pool <- &leanConn{}
		}
		h.pools = append(h.pools, pool)
	}
	return h
}

// serialiseRequest is the request the lean client sends to u: what
// net/http sends for vegeta's GET, or a POST of bodyBytes zero bytes.
func serialiseRequest(u *url.URL, bodyBytes int) []byte {
	method := "GET"
	if bodyBytes > 0 {
		method = "POST"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: meshbench\r\n", method, u.RequestURI(), u.Host)
	if bodyBytes > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", bodyBytes)
	}
	b.WriteString("\r\n")
	b.Write(make([]byte, bodyBytes))
	return b.Bytes()
}

func (h *leanHTTP) exchange(ctx context.Context, target int) outcome {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	var c *leanConn
	select {
	case c = <-h.pools[target]:
	case <-ctx.Done():
		return outcome{err: fmt.Errorf("wait for a connection to %s: %w", h.addrs[target], ctx.Err())}
	}
	defer func() { h.pools[target] <- c }()
	for retry := h.idempotent; ; retry = false {
		reused := c.conn != nil
		if !reused {
			conn, err := h.dialer.DialContext(ctx, "tcp", h.addrs[target])
			if err != nil {
				return outcome{err: err}
			}
			c.conn, c.uses = conn, 0
			if c.br == nil {
				c.br = bufio.NewReaderSize(conn, leanReadBuffer)
			} else {
				c.br.Reset(conn)
			}
		}
		sent := time.Now()
		r, err := h.roundTrip(ctx, c, h.reqs[target])
		c.uses++
		if err != nil || !r.keepAlive || c.uses == h.perConn {
			c.conn.Close()
			c.conn = nil
		}
		if err != nil && reused && retry && errors.Is(err, errClosedIdle) {
			continue
		}
		if err != nil {
			return outcome{err: err, sent: sent}
		}
		return outcome{code: uint16(r.code), bytesIn: uint32(r.bodyBytes), sent: sent} // both bounded by readResponse
	}
}

// errClosedIdle is a response that ended before its first byte: on a
// reused connection, the server closed it while it was idle.
var errClosedIdle = errors.New("server closed the connection before answering")

// roundTrip writes req on c and reads its response, cut off when ctx ends.
// A response whose end ctx's deadline may have cut is not kept alive.
func (h *leanHTTP) roundTrip(ctx context.Context, c *leanConn, req []byte) (response, error) {
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	if _, err := conn.Write(req); err != nil {
		stop()
		return response{}, ctxErr(ctx, fmt.Errorf("write request: %w", err))
	}
	r, err := readResponse(c.br)
	if !stop() {
		r.keepAlive = false
	}
	if err != nil {
		return r, ctxErr(ctx, fmt.Errorf("read response: %w", err))
	}
	return r, nil
}

func (h *leanHTTP) close() {
	for _, pool := range h.pools {
		for range cap(pool) {
			if c := <-pool; c.conn != nil {
				c.conn.Close()
			}
		}
	}
}

// response is what the lean client keeps of an HTTP/1.1 response.
type response struct {
	code      int
	bodyBytes int64
	// keepAlive is whether the connection may carry the next request.
	keepAlive bool
}

// readResponse reads one HTTP/1.1 response, its body discarded, from br:
// the status line, the headers (Content-Length, Transfer-Encoding: chunked
// and Connection: close are the ones it acts on), and the body, delimited
// by its length, its chunks, or the connection's close. Informational (1xx)
// responses before it are skipped. It fails with errClosedIdle when br
// ends before the response's first byte.
func readResponse(br *bufio.Reader) (response, error) {
	for {
		r, err := readResponseHead(br)
		if err != nil {
			return r, err
		}
		if r.code >= 200 {
			return r, nil
		}
	}
}

// responseHead is a response's status line and the headers the lean
// client acts on.
type responseHead struct {
	code          int
	http10        bool
	contentLength int64 // -1 when absent
	chunked       bool
	close         bool
	keepAlive     bool // HTTP/1.0's Connection: keep-alive
}

func readResponseHead(br *bufio.Reader) (response, error) {
	h := responseHead{contentLength: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)) {
			return response{}, fmt.Errorf("%w: %w", errClosedIdle, err)
		}
		return response{}, headErr("status line", err)
	}
	if err := h.parseStatus(trimEOL(line)); err != nil {
		return response{}, err
	}
	total := len(line)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return response{}, headErr("header", err)
		}
		if total += len(line); total > maxHeaderBytes {
			return response{}, fmt.Errorf("response headers exceed %d bytes", maxHeaderBytes)
		}
		line = trimEOL(line)
		if len(line) == 0 {
			break
		}
		if err := h.parseHeader(line); err != nil {
			return response{}, err
		}
	}
	r := response{code: h.code, keepAlive: !h.close && (!h.http10 || h.keepAlive)}
	switch {
	case h.code < 200 || h.code == 204 || h.code == 304:
		// No body (RFC 9112, section 6.3).
		if h.code == 101 {
			return r, errors.New("server switched protocols (101)")
		}
	case h.chunked:
		r.bodyBytes, err = discardChunked(br)
	case h.contentLength >= 0:
		var n int
		n, err = br.Discard(int(min(h.contentLength, maxBody)))
		r.bodyBytes = int64(n)
		if err == nil && h.contentLength > maxBody {
			err = fmt.Errorf("body of %d bytes exceeds %d", h.contentLength, int64(maxBody))
		}
	default:
		// Delimited by the connection's close.
		r.keepAlive = false
		var n int64
		n, err = io.Copy(io.Discard, br)
		r.bodyBytes = n
	}
	if err != nil {
		return r, fmt.Errorf("read body: %w", noEOF(err))
	}
	return r, nil
}

// maxBody bounds a response body the lean client reads: a 32-bit
// BytesIn, and an int on every platform.
const maxBody = 1<<31 - 1

// parseStatus parses "HTTP/1.x NNN reason".
func (h *responseHead) parseStatus(line []byte) error {
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	switch {
	case !ok || len(rest) < 3 || len(rest) > 3 && rest[3] != ' ':
		return fmt.Errorf("malformed status line %q", clip(line))
	case string(proto) == "HTTP/1.0":
		h.http10 = true
	case string(proto) != "HTTP/1.1":
		return fmt.Errorf("status line %q is not HTTP/1.x", clip(line))
	}
	code := 0
	for _, d := range rest[:3] {
		if d < '0' || d > '9' {
			return fmt.Errorf("malformed status code in %q", clip(line))
		}
		code = code*10 + int(d-'0')
	}
	if code < 100 {
		return fmt.Errorf("malformed status code in %q", clip(line))
	}
	h.code = code
	return nil
}

// parseHeader acts on one header line.
func (h *responseHead) parseHeader(line []byte) error {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(name) == 0 || name[len(name)-1] == ' ' || name[len(name)-1] == '\t' {
		return fmt.Errorf("malformed header line %q", clip(line))
	}
	value = bytes.Trim(value, " \t")
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		u, err := strconv.ParseUint(string(value), 10, 63)
		if err != nil {
			return fmt.Errorf("malformed Content-Length %q", clip(value))
		}
		n := int64(u)
		if h.contentLength >= 0 && h.contentLength != n {
			return fmt.Errorf("conflicting Content-Length %d and %d", h.contentLength, n)
		}
		h.contentLength = n
	case bytes.EqualFold(name, []byte("Transfer-Encoding")) && h.http10:
		// HTTP/1.0 has no transfer codings: net/http ignores the header
		// there too, and the body is delimited as if it were absent.
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		if !bytes.EqualFold(value, []byte("chunked")) {
			return fmt.Errorf("unsupported Transfer-Encoding %q", clip(value))
		}
		h.chunked = true
	case bytes.EqualFold(name, []byte("Connection")):
		for tok := range bytes.SplitSeq(value, []byte(",")) {
			tok = bytes.Trim(tok, " \t")
			h.close = h.close || bytes.EqualFold(tok, []byte("close"))
			h.keepAlive = h.keepAlive || bytes.EqualFold(tok, []byte("keep-alive"))
		}
	}
	return nil
}

// discardChunked reads a chunked body and its trailers, and returns the
// body's length.
func discardChunked(br *bufio.Reader) (int64, error) {
	var total int64
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return total, headErr("chunk size", err)
		}
		size, _, _ := bytes.Cut(trimEOL(line), []byte(";"))
		size = bytes.Trim(size, " \t")
		n, err := strconv.ParseUint(string(size), 16, 63)
		if err != nil {
			return total, fmt.Errorf("malformed chunk size %q", clip(line))
		}
		if int64(n) > maxBody-total {
			return total, fmt.Errorf("chunked body exceeds %d bytes", int64(maxBody))
		}
		if n == 0 {
			break
		}
		m, err := br.Discard(int(n))
		total += int64(m)
		if err != nil {
			return total, err
		}
		if err := readCRLF(br); err != nil {
			return total, err
		}
	}
	// Trailers, up to the empty line.
	for read := 0; ; {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return total, headErr("trailer", err)
		}
		if read += len(line); read > maxHeaderBytes {
			return total, fmt.Errorf("trailers exceed %d bytes", maxHeaderBytes)
		}
		if len(trimEOL(line)) == 0 {
			return total, nil
		}
	}
}

// readCRLF reads the line end after a chunk's data.
func readCRLF(br *bufio.Reader) error {
	b, err := br.ReadByte()
	if err == nil && b == '\r' {
		b, err = br.ReadByte()
	}
	switch {
	case err != nil:
		return err
	case b != '\n':
		return errors.New("chunk data not followed by a line end")
	}
	return nil
}

// trimEOL drops a line's "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// headErr names the part of the response whose read failed; a line longer
// than the read buffer is one too long.
func headErr(part string, err error) error {
	if errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("response %s longer than %d bytes", part, leanReadBuffer)
	}
	return fmt.Errorf("read response %s: %w", part, noEOF(err))
}

// noEOF turns an EOF amid a response into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// isReset reports whether err is a connection reset by the peer.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// clip shortens what an error quotes of a response.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
