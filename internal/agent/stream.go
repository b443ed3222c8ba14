package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// A stream connection carries bytes one way, client to server, as
// iperf3's default does: the client writes for the attack's duration,
// then half-closes; the server, at that end, answers with the count of
// bytes it read (streamAckSize bytes, big endian) and closes. The client
// checks the count against what it wrote, so that every byte reported
// moved end to end, whatever proxies relayed it.
const streamAckSize = 8

// enomemWait is how long a stream write refused with ENOMEM waits before
// it is tried again.
const enomemWait = 50 * time.Microsecond

// streamChunk is the size of the client's writes and the server's reads,
// iperf3's default for TCP.
const streamChunk = 128 << 10

// StreamCountBytes is what each transfer of a counted stream attack
// (wire.Attack.Count, for verification and the path probe) moves: a short
// transfer on a connection of its own, one after another.
const StreamCountBytes = 1 << 20

// streamer runs stream attacks: Connections connections per target at once,
// each moving bytes for the duration.
type streamer struct {
	addrs   []string
	conns   int
	timeout time.Duration
	dialer  *dialer
	// waits counts the writes refused with ENOMEM, each retried after
	// enomemWait (the load role's "stream_write_waits").
	waits atomic.Uint64
}

func newStreamer(addrs []string, o LoadOptions, d *dialer) *streamer {
	return &streamer{addrs: addrs, conns: o.Connections, timeout: o.Timeout, dialer: d}
}

// run starts the attack a: one sample per connection, Latency its
// transfer time from the dial, Bytes what it moved (what the server
// acknowledged). The channel closes once every transfer ended. Planned is
// the number of transfers.
func (s *streamer) run(ctx context.Context, a wire.Attack) (<-chan results.Sample, uint64) {
	out := make(chan results.Sample)
	if a.Count > 0 {
		go func() {
			defer close(out)
			for i := range a.Count {
				out <- s.transfer(ctx, uint64(i), i%len(s.addrs), time.Time{}, StreamCountBytes)
			}
		}()
		return out, uint64(a.Count)
	}
	n := s.conns * len(s.addrs)
	end := time.Now().Add(a.Duration)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out <- s.transfer(ctx, uint64(i), i%len(s.addrs), end, 0) })
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, uint64(n)
}

// transfer moves bytes on a new connection to target: until end, or limit
// bytes when end is zero, then half-closes and waits for the server's count.
func (s *streamer) transfer(ctx context.Context, seq uint64, target int, end time.Time, limit int) results.Sample {
	began := time.Now()
	smp := results.Sample{Seq: seq, Intended: began.UnixNano()}
	sent, err := s.send(ctx, s.addrs[target], end, limit)
	now := time.Now()
	smp.Latency, smp.Service, smp.Bytes = now.Sub(began), now.Sub(began), sent
	if err != nil {
		smp.Error = err.Error()
		return smp
	}
	smp.Code = exchangeOK
	return smp
}

// send dials addr, writes until end (or limit bytes), half-closes and
// returns the byte count the server acknowledged, which must equal what
// was written.
func (s *streamer) send(ctx context.Context, addr string, end time.Time, limit int) (uint64, error) {
	dctx, cancel := context.WithTimeout(ctx, s.timeout)
	conn, err := s.dialer.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	writeBy := end
	if end.IsZero() {
		writeBy = time.Now().Add(s.timeout)
		conn.SetWriteDeadline(writeBy)
	}
	buf := make([]byte, streamChunk)
	var written uint64
	for {
		chunk := buf
		if end.IsZero() {
			if int(written) >= limit {
				break
			}
			chunk = buf[:min(len(buf), limit-int(written))]
		} else {
			if !time.Now().Before(end) {
				break
			}
			// A write blocked on a slow path ends at the end, too.
			conn.SetWriteDeadline(end)
		}
		n, err := conn.Write(chunk)
		written += uint64(n)
		// The eBPF datapath's sockmap redirect refuses a write with
		// ENOMEM while the proxy's receive memory is full, where a
		// plain socket's write would block: wait as a blocked write
		// would, until its deadline.
		enomem := errors.Is(err, syscall.ENOMEM)
		if enomem && time.Now().Before(writeBy) {
			s.waits.Add(1)
			if serr := sleepUntil(ctx, time.Now().Add(enomemWait)); serr == nil {
				continue
			}
		}
		if err != nil {
			if (enomem || errors.Is(err, os.ErrDeadlineExceeded)) && !end.IsZero() && ctx.Err() == nil {
				break // the duration ended mid-write: n bytes of it went
			}
			return written, ctxErr(ctx, fmt.Errorf("write: %w", err))
		}
	}
	conn.SetWriteDeadline(time.Time{})
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok {
		return written, fmt.Errorf("half-close a %T: not supported", conn)
	}
	if err := cw.CloseWrite(); err != nil {
		return written, fmt.Errorf("half-close: %w", err)
	}
	conn.SetReadDeadline(time.Now().Add(s.timeout))
	var ack [streamAckSize]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return written, ctxErr(ctx, fmt.Errorf("read the server's byte count: %w", err))
	}
	if got := binary.BigEndian.Uint64(ack[:]); got != written {
		return written, fmt.Errorf("the server read %d bytes of the %d written", got, written)
	}
	return written, nil
}

// streamServer sinks stream connections: it reads each to its end,
// answers with the count of bytes read and closes. Its Stats count the
// transfers read to their end as requests, and every byte read as "bytes".
type streamServer struct {
	e *echo
	// ctx is cancelled by close, which closes the listener and every
	// connection.
	ctx    context.Context
	cancel context.CancelFunc
}

func (s *streamServer) serve(ln net.Listener) error {
	stop := context.AfterFunc(s.ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.e.conns.Add(1)
		go s.serveConn(conn)
	}
}

func (s *streamServer) close() { s.cancel() }

func (s *streamServer) serveConn(conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(s.ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, streamChunk)
	var read uint64
	for {
		n, err := conn.Read(buf)
		read += uint64(n)
		s.e.bytes.Add(uint64(n))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return // the client broke the connection: no count to give
		}
	}
	// Counted before the answer: a client that has its count may read the
	// stats at once.
	s.e.requests.Add(1)
	var ack [streamAckSize]byte
	binary.BigEndian.PutUint64(ack[:], read)
	conn.Write(ack[:]) // a client gone by now finds its transfer failed
}
