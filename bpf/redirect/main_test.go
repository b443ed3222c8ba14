package redirect_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/bpftest"
	"github.com/meshbench/meshbench/internal/testutil"
)

// TestMain lets the test binary act as the app, the proxy or a pod's server,
// started by
// bpftest.StartChild inside a cgroup the datapath is attached to.
func TestMain(m *testing.M) {
	role, args, err := bpftest.ChildRole()
	if role == "" {
		os.Exit(m.Run())
	}
	if err == nil {
		err = runChild(role, args)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s child: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(role string, args []string) error {
	switch role {
	case "proxy":
		return proxyChild(args[0])
	case "server":
		return serverChild(args[0])
	case "app":
		rounds, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return appChild(args[0], rounds)
	}
	return fmt.Errorf("unknown role %q", role)
}

// proxyChild accepts one connection on addr, prints what SO_ORIGINAL_DST
// says about it, and echoes it until EOF.
func proxyChild(addr string) error {
	conn, err := acceptOne("tcp4", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	orig, err := originalDst(conn.(*net.TCPConn))
	if err != nil {
		fmt.Println("origdst-error", err)
	} else {
		fmt.Println("origdst", orig)
	}
	return testutil.Echo(conn)
}

// serverChild accepts one connection on addr and echoes it until EOF. It
// listens as a Go server does: on ":port", the socket is AF_INET6 and
// accepts IPv4 connections with IPv4-mapped addresses.
func serverChild(addr string) error {
	conn, err := acceptOne("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	return testutil.Echo(conn)
}

// acceptOne listens on addr, prints "ready" and accepts one connection.
func acceptOne(network, addr string) (net.Conn, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	fmt.Println("ready")
	return ln.Accept()
}

// appChild connects to target and checks rounds of echoed messages.
func appChild(target string, rounds int) error {
	conn, err := net.Dial("tcp4", target)
	if err != nil {
		return err
	}
	defer conn.Close()
	for i := range rounds {
		msg := []byte(message(i))
		if _, err := conn.Write(msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, got); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		if string(got) != string(msg) {
			return fmt.Errorf("round %d: echo %q, want %q", i, got, msg)
		}
	}
	fmt.Println("done")
	return nil
}

func message(i int) string { return fmt.Sprintf("ping %04d", i) }

// originalDst asks the kernel for SO_ORIGINAL_DST the way a proxy behind
// iptables REDIRECT does.
func originalDst(conn *net.TCPConn) (string, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return "", err
	}
	var (
		sa   unix.RawSockaddrInet4
		serr error
	)
	err = rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(sa))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_IP, unix.SO_ORIGINAL_DST,
			uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			serr = errno
		}
	})
	if err != nil {
		return "", err
	}
	if serr != nil {
		return "", serr
	}
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(int(port))), nil
}
