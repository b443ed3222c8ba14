// Package bpftest holds what the bpf packages' privileged tests share:
// throwaway network namespaces with veth pairs between them, cgroup2
// directories, child processes started inside a cgroup, and a check that BPF
// objects are gone. Everything it creates is removed by the test's Cleanup;
// the host's own network namespace is never changed.
package bpftest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/meshbench/meshbench/internal/hostfs"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
)

var seq atomic.Int64

// uniqueName returns a name unique to this test process, with prefix.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
}

// Netns is a named network namespace created for one test.
type Netns struct {
	Name string
	// Path is the namespace's bind mount, for setns(2) and stat(2).
	Path   string
	handle vnetns.NsHandle
}

// NewNetns creates a network namespace with loopback up (through
// testutil.NetNS, which also removes it at cleanup).
func NewNetns(tb testing.TB) *Netns {
	tb.Helper()
	path := testutil.NetNS(tb)
	h, err := vnetns.GetFromPath(path)
	if err != nil {
		tb.Fatalf("open network namespace %s: %v", path, err)
	}
	tb.Cleanup(func() { h.Close() })
	return &Netns{Name: filepath.Base(path), Path: path, handle: h}
}

// Do runs fn inside n (see nsenter.Do). Sockets fn creates belong to n and
// may be used from any goroutine afterwards.
func (n *Netns) Do(fn func() error) error { return nsenter.Do(n.Path, fn) }

// Netlink returns a netlink handle operating in n, closed at cleanup.
func (n *Netns) Netlink(tb testing.TB) *netlink.Handle {
	tb.Helper()
	h, err := netlink.NewHandleAt(n.handle)
	if err != nil {
		tb.Fatalf("netlink handle in %s: %v", n.Name, err)
	}
	tb.Cleanup(h.Close)
	return h
}

// Veth connects a and b with a veth pair, names the ends aName and bName,
// gives them the addresses (when valid), brings them up and returns their
// ifindexes. The pair disappears with either namespace.
func Veth(tb testing.TB, a *Netns, aName string, aAddr netip.Prefix, b *Netns, bName string, bAddr netip.Prefix) (aIndex, bIndex int) {
	tb.Helper()
	ha, hb := a.Netlink(tb), b.Netlink(tb)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aName},
		PeerName:      bName,
		PeerNamespace: netlink.NsFd(b.handle),
	}
	if err := ha.LinkAdd(veth); err != nil {
		tb.Fatalf("add veth %s/%s: %v", aName, bName, err)
	}
	ends := []struct {
		h    *netlink.Handle
		name string
		addr netip.Prefix
		idx  *int
	}{{ha, aName, aAddr, &aIndex}, {hb, bName, bAddr, &bIndex}}
	for _, e := range ends {
		l, err := e.h.LinkByName(e.name)
		if err != nil {
			tb.Fatalf("find %s: %v", e.name, err)
		}
		if e.addr.IsValid() {
			addr, err := netlink.ParseAddr(e.addr.String())
			if err != nil {
				tb.Fatalf("parse %s: %v", e.addr, err)
			}
			if err := e.h.AddrAdd(l, addr); err != nil {
				tb.Fatalf("add %s to %s: %v", e.addr, e.name, err)
			}
		}
		if err := e.h.LinkSetUp(l); err != nil {
			tb.Fatalf("bring up %s: %v", e.name, err)
		}
		*e.idx = l.Attrs().Index
	}
	return aIndex, bIndex
}

// Cgroup2Mount returns the cgroup2 mount (hostfs.DetectCgroups).
func Cgroup2Mount(tb testing.TB) string {
	tb.Helper()
	cg, err := hostfs.DetectCgroups()
	if err != nil {
		tb.Fatalf("find cgroup2 mount: %v", err)
	}
	return cg.V2
}

// Route adds a route to dst via gw in n.
func Route(tb testing.TB, n *Netns, dst netip.Prefix, gw netip.Addr) {
	tb.Helper()
	_, ipnet, err := net.ParseCIDR(dst.String())
	if err != nil {
		tb.Fatalf("parse %s: %v", dst, err)
	}
	if err := n.Netlink(tb).RouteAdd(&netlink.Route{Dst: ipnet, Gw: net.IP(gw.AsSlice())}); err != nil {
		tb.Fatalf("add route %s via %s in %s: %v", dst, gw, n.Name, err)
	}
}

// Sysctl sets a network sysctl (a path below /proc/sys, such as
// net/ipv4/ip_forward) inside n; the host's value is untouched.
func Sysctl(tb testing.TB, n *Netns, key, value string) {
	tb.Helper()
	err := n.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
	if err != nil {
		tb.Fatalf("set %s=%s in %s: %v", key, value, n.Name, err)
	}
}
