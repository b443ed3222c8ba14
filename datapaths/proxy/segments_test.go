package proxy

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestL4MessagesStayWhole sends request-sized messages one at a time
// through the l4 proxy, well past 1 MiB on one connection, and counts the
// data segments the upstream received (TCP_INFO tcpi_data_segs_in): each
// message must arrive as the one segment the client sent, as a real proxy
// forwards it. A proxy that copies in fixed byte steps cuts the message
// that straddles a step's end in two, and the path probe then counts a
// fraction of a hop more (8.01 for 8).
func TestL4MessagesStayWhole(t *testing.T) {
	const (
		size     = 1142 // a quick response
		messages = 1000 // 1.09 MiB
	)
	for _, tt := range []struct {
		name     string
		noSplice bool
	}{{"splice", false}, {"read and write", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", loopback)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			segs := make(chan uint32, 1)
			errs := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				buf := make([]byte, size)
				for range messages {
					if _, err := io.ReadFull(c, buf); err != nil {
						errs <- err
						return
					}
					if _, err := c.Write([]byte{'k'}); err != nil {
						errs <- err
						return
					}
				}
				raw, err := c.(*net.TCPConn).SyscallConn()
				if err != nil {
					errs <- err
					return
				}
				var info *unix.TCPInfo
				var ierr error
				if err := raw.Control(func(fd uintptr) {
					info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
				}); err != nil || ierr != nil {
					errs <- errors.Join(err, ierr)
					return
				}
				segs <- info.Data_segs_in
			}()
			p := startProxy(t, Config{Mode: L4, Outbound: loopback, OrigDst: fixedDst(ln.Addr().(*net.TCPAddr).AddrPort()), NoSplice: tt.noSplice})
			conn, err := net.Dial("tcp4", p.Addrs().Outbound.String())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			msg := []byte(strings.Repeat("m", size))
			ack := make([]byte, 1)
			if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
				t.Fatal(err)
			}
			for i := range messages {
				if _, err := conn.Write(msg); err != nil {
					t.Fatalf("message %d: write: %v", i, err)
				}
				if _, err := io.ReadFull(conn, ack); err != nil {
					t.Fatalf("message %d: read the upstream's answer: %v", i, err)
				}
			}
			select {
			case got := <-segs:
				if got != messages {
					t.Errorf("upstream received %d data segments for %d messages of %d bytes, want one each", got, messages, size)
				}
			case err := <-errs:
				t.Fatalf("upstream: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("upstream did not finish")
			}
		})
	}
}
