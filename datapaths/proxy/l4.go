package proxy

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relay copies bytes both ways between the downstream and upstream
// connections until both directions end. downBuf and upBuf, when not nil,
// hold bytes already read from down and up (past a CONNECT exchange).
func (p *Proxy) relay(down net.Conn, downBuf *bufio.Reader, up net.Conn, upBuf *bufio.Reader) {
	var wg sync.WaitGroup
	splice := !p.cfg.NoSplice
	wg.Go(func() { pipe(up, down, downBuf, splice, &p.stats.bytesUp) })
	pipe(down, up, upBuf, splice, &p.stats.bytesDown)
	wg.Wait()
}

// pipe copies src to dst. When src ends cleanly, it half-closes dst so the
// far side sees the end while the other direction carries on; when the copy
// fails, it closes both connections, which also ends the other direction.
func pipe(dst, src net.Conn, buffered *bufio.Reader, splice bool, n *atomic.Uint64) {
	err := drain(dst, buffered, n)
	if err == nil {
		err = copyStream(dst, src, splice, n)
	}
	if err != nil {
		dst.Close()
		src.Close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// drain writes what br has buffered to dst.
func drain(dst io.Writer, br *bufio.Reader, n *atomic.Uint64) error {
	if br == nil || br.Buffered() == 0 {
		return nil
	}
	b, _ := br.Peek(br.Buffered())
	m, err := dst.Write(b)
	n.Add(uint64(m))
	return err
}

// copyStream copies src to dst until src's end. Between two TCP sockets,
// when splice is allowed, it keeps the concrete types so that
// (*net.TCPConn).ReadFrom splices in the kernel, each call moving what has
// arrived, and counts the bytes when the direction ends: copying in steps
// of a fixed size, to count as it goes, would cut the message that
// straddles each step's end into two writes and so two segments, which no
// real proxy does and which made hops per request fractional. Anything
// else (TLS, or splice not allowed) goes through a pooled buffer with read
// and write.
func copyStream(dst, src net.Conn, splice bool, n *atomic.Uint64) error {
	if d, ok := dst.(*net.TCPConn); ok && splice {
		if s, ok := src.(*net.TCPConn); ok {
			m, err := d.ReadFrom(s)
			n.Add(uint64(m))
			return err
		}
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	for {
		m, rerr := src.Read(*buf)
		if m > 0 {
			w, werr := dst.Write((*buf)[:m])
			n.Add(uint64(w))
			if werr != nil {
				return werr
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
