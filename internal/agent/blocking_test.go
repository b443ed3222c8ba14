package agent

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A blocking connect that gets no answer, to a listener whose accept
// queue is full (the kernel drops the SYNs past it), ends with its
// context, as errCutOff.
func TestBlockingConnectCutOff(t *testing.T) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 0); err != nil { // never accepted from
		t.Fatal(err)
	}
	bound, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(bound.(*unix.SockaddrInet4).Port))
	sa, err := sockaddr(ap)
	if err != nil {
		t.Fatal(err)
	}
	// Fill the accept queue: these connect (a backlog of 0 queues one).
	for range 2 {
		c, err := net.DialTimeout("tcp", ap.String(), time.Second)
		if err == nil {
			defer c.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s, err := newBlockingSocket(sa)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	s.watch(ctx)
	began := time.Now()
	err = s.connect(sa)
	took := time.Since(began)
	t.Logf("connect: %v after %s", err, took)
	if !errors.Is(err, errCutOff) || took > 5*time.Second {
		t.Errorf("connect to a full accept queue = %v after %s, want errCutOff at the context's end (300ms)", err, took)
	}
}
