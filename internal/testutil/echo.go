package testutil

import (
	"errors"
	"io"
	"net"
	"testing"

	"github.com/meshbench/meshbench/internal/nsenter"
)

// ListenEcho listens on network and addr, inside the network namespace at
// nsPath unless it is "", and echoes every connection it accepts (Echo)
// until the test's cleanup closes it.
func ListenEcho(tb testing.TB, nsPath, network, addr string) *net.TCPListener {
	tb.Helper()
	var ln net.Listener
	listen := func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	}
	var err error
	if nsPath == "" {
		err = listen()
	} else {
		err = nsenter.Do(nsPath, listen)
	}
	if err != nil {
		tb.Fatalf("listen for echo on %s %s: %v", network, addr, err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = Echo(conn)
			}()
		}
	}()
	return ln.(*net.TCPListener)
}

// Echo writes back what it reads from conn until EOF. It reads and writes
// rather than io.Copy, which between TCP sockets splices: spliced data
// bypasses sock_recv_length and what sk_msg programs redirect.
func Echo(conn net.Conn) error {
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := conn.Write(buf[:n]); err != nil {
			return err
		}
	}
}
