package testutil

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostNetwork describes the host's links, addresses, routes (all tables),
// nftables tables and IPv4 forwarding, read-only, so
// that a test can prove a run left the host's own namespace unchanged.
func HostNetwork(tb testing.TB) string {
	tb.Helper()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		tb.Fatalf("netlink: %v", err)
	}
	defer h.Close()
	var lines []string
	retry := func(what string, f func() error) {
		for range 5 {
			if err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
				break
			}
		}
		if err != nil {
			tb.Fatalf("list host %s: %v", what, err)
		}
	}
	retry("links", func() error {
		links, err := h.LinkList()
		for _, l := range links {
			a := l.Attrs()
			lines = append(lines, fmt.Sprintf("link %d %s %s mtu %d flags %v master %d", a.Index, a.Name, l.Type(), a.MTU, a.Flags, a.MasterIndex))
		}
		return err
	})
	retry("addresses", func() error {
		addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
		for _, a := range addrs {
			lines = append(lines, fmt.Sprintf("addr %d %s", a.LinkIndex, a.IPNet))
		}
		return err
	})
	retry("routes", func() error {
		routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		for _, r := range routes {
			lines = append(lines, "route "+r.String())
		}
		return err
	})
	conn, err := nftables.New()
	if err != nil {
		tb.Fatalf("nftables: %v", err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		tb.Fatalf("list host nftables tables: %v", err)
	}
	for _, t := range tables {
		lines = append(lines, fmt.Sprintf("nft table %d %s", t.Family, t.Name))
	}
	fwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		tb.Fatalf("read ip_forward: %v", err)
	}
	lines = append(lines, "ip_forward "+strings.TrimSpace(string(fwd)))
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
