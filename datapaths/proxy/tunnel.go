package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
)

// The tunnel protocol is HTTP/1.1 CONNECT on a fresh (m)TLS or TCP
// connection: the client sends the request, waits for a 200 answer, then the
// connection carries the destination's bytes.

func writeConnect(w io.Writer, dst netip.AddrPort) error {
	_, err := fmt.Fprintf(w, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", dst, dst)
	return err
}

// readConnect reads a CONNECT request and returns its destination.
func readConnect(br *bufio.Reader) (netip.AddrPort, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("read CONNECT: %w", err)
	}
	method, rest, _ := strings.Cut(line, " ")
	target, proto, _ := strings.Cut(rest, " ")
	if method != http.MethodConnect || proto != "HTTP/1.1" {
		return netip.AddrPort{}, fmt.Errorf("read CONNECT: unexpected request line %q", line)
	}
	if _, err := tp.ReadMIMEHeader(); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read CONNECT headers: %w", err)
	}
	dst, err := netip.ParseAddrPort(target)
	if err != nil || !dst.Addr().Is4() {
		return netip.AddrPort{}, fmt.Errorf("read CONNECT: target %q is not an IPv4 address and port", target)
	}
	return dst, nil
}

// writeConnectReply answers a CONNECT; after a 200 the tunnel is open.
func writeConnectReply(w io.Writer, code int) error {
	_, err := fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n\r\n", code, http.StatusText(code))
	return err
}

// readConnectReply reads the answer to a CONNECT and fails unless it is 200.
func readConnectReply(br *bufio.Reader) error {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return fmt.Errorf("read CONNECT reply: %w", err)
	}
	if _, err := tp.ReadMIMEHeader(); err != nil {
		return fmt.Errorf("read CONNECT reply headers: %w", err)
	}
	proto, status, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(status, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") {
		return fmt.Errorf("read CONNECT reply: unexpected status line %q", line)
	}
	if n, err := strconv.Atoi(code); err != nil || n != http.StatusOK {
		return fmt.Errorf("tunnel refused: %s", status)
	}
	return nil
}
