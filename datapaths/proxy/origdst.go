package proxy

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// OrigDstFunc returns where a redirected connection was headed before the
// datapath sent it to the proxy. The eBPF datapath can answer from a map
// keyed by c.RemoteAddr(); with its cgroup getsockopt hook, OriginalDst works
// unchanged.
type OrigDstFunc func(c *net.TCPConn) (netip.AddrPort, error)

// OriginalDst reads SO_ORIGINAL_DST (IPv4), which netfilter NAT sets on
// connections it redirected.
func OriginalDst(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("get SO_ORIGINAL_DST: %w", err)
	}
	var (
		// The kernel fills a struct sockaddr_in; IPv6Mreq is the x/sys
		// getter with a buffer at least that large (16 of its 20 bytes).
		sa   *unix.IPv6Mreq
		serr error
	)
	if err := raw.Control(func(fd uintptr) {
		sa, serr = unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
	}); err != nil {
		return netip.AddrPort{}, fmt.Errorf("get SO_ORIGINAL_DST: %w", err)
	}
	if serr != nil {
		return netip.AddrPort{}, fmt.Errorf("get SO_ORIGINAL_DST: %w", serr)
	}
	b := sa.Multiaddr
	if family := binary.NativeEndian.Uint16(b[0:2]); family != unix.AF_INET {
		return netip.AddrPort{}, fmt.Errorf("get SO_ORIGINAL_DST: address family %d, want AF_INET", family)
	}
	port := binary.BigEndian.Uint16(b[2:4])
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), nil
}
