package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// blockingSocket is a TCP socket driven by blocking system calls on the
// calling goroutine's thread, outside Go's network poller, as netperf's
// TCP_CRR and netserver drive theirs. tcp-crr opens a connection per
// exchange, and through the poller each one costs the client and the
// server descriptor registrations and goroutine wake-ups that netperf
// never pays. Closed loop, 1 KiB each way, on a 2-core machine: between
// two network namespaces, tcp-crr's client and server on net.Conn took
// 210-235µs at p50 where netperf and netserver took 76-78µs, and on
// blocking sockets 135µs against netperf's 83µs (most of the rest is the
// load agent's own work per exchange: a bare client on blocking sockets
// took 92µs against the same server); on loopback, a bare client and
// server on blocking sockets took 65-70µs, netperf 57-62µs, and the same
// two on net.Conn 160-200µs.
type blockingSocket struct {
	fd int
	// stop, cut and done are set by watch: stop cancels the cut-off, cut
	// says it began, done is closed once it returned.
	stop func() bool
	cut  atomic.Bool
	done chan struct{}
}

// errCutOff is a system call's end by watch's context.
var errCutOff = errors.New("cut off")

// newBlockingSocket opens a blocking TCP socket of sa's family, with
// Nagle's algorithm off as on Go's own TCP connections.
func newBlockingSocket(sa unix.Sockaddr) (*blockingSocket, error) {
	family := unix.AF_INET6
	if _, ok := sa.(*unix.SockaddrInet4); ok {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	s := &blockingSocket{fd: fd}
	if err := s.noDelay(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return s, nil
}

func (s *blockingSocket) noDelay() error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(s.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1))
}

// sockaddr is ap as the socket calls take it; a zoned IPv6 address is
// refused.
func sockaddr(ap netip.AddrPort) (unix.Sockaddr, error) {
	a := ap.Addr()
	switch {
	case a.Is4():
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, nil
	case a.Zone() != "":
		return nil, fmt.Errorf("address %s: zoned IPv6 addresses are not supported", ap)
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}, nil
}

// watch cuts off the socket's system calls, under way or to come, once
// ctx ends: shutdown wakes a blocked connect, read, write or accept.
func (s *blockingSocket) watch(ctx context.Context) {
	s.done = make(chan struct{})
	s.stop = context.AfterFunc(ctx, func() {
		defer close(s.done)
		s.cut.Store(true)
		unix.Shutdown(s.fd, unix.SHUT_RDWR)
	})
}

// close closes the socket, which watch watched, once a cut-off under way
// returned, so that its shutdown never reaches a socket that reused the
// descriptor.
func (s *blockingSocket) close() {
	if !s.stop() {
		<-s.done
	}
	unix.Close(s.fd)
}

// fail is err, or errCutOff when watch cut the call off.
func (s *blockingSocket) fail(call string, err error) error {
	if s.cut.Load() {
		return errCutOff
	}
	return os.NewSyscallError(call, err)
}

// connect connects the socket to sa, blocking until it is established.
func (s *blockingSocket) connect(sa unix.Sockaddr) error {
	for retried := false; ; retried = true {
		switch err := unix.Connect(s.fd, sa); {
		case err == unix.EINTR:
		case err == unix.EISCONN && retried:
			return nil
		case err != nil || s.cut.Load():
			return s.fail("connect", err)
		default:
			return nil
		}
	}
}

// Read reads as a blocking read does; the peer's close is io.EOF, and a
// read ended by watch's cut-off errCutOff.
func (s *blockingSocket) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(s.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, s.fail("read", err)
		case n == 0 && len(p) > 0:
			if s.cut.Load() {
				return 0, errCutOff
			}
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write writes all of p.
func (s *blockingSocket) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := unix.Write(s.fd, p[written:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return written, s.fail("write", err)
		}
		written += n
	}
	return written, nil
}
