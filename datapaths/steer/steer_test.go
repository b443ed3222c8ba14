package steer_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"

	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
)

const mark = 0x539

// TestRedirectOutput checks that an Output rule steers a connection for a
// service address to the local proxy port, counts it, and leaves marked
// (proxy-owned) connections alone.
func TestRedirectOutput(t *testing.T) {
	ns := testutil.NetNS(t)
	addDummyRoute(t, ns, netip.MustParsePrefix("10.96.0.0/16"))

	tab := steer.Table{NetNS: ns, Name: "mbtest", SkipMark: mark, Rules: []steer.Rule{
		{Hook: steer.Output, Dst: netip.MustParsePrefix("10.96.0.0/16"), DstPort: 80, ToPort: 15001},
	}}
	if err := steer.Install(tab); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := steer.Remove(ns, tab.Name); err != nil {
			t.Error(err)
		}
	})

	var ln net.Listener
	if err := nsenter.Do(ns, func() (err error) {
		ln, err = net.Listen("tcp", "0.0.0.0:15001")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()

	if err := dialIn(ns, "10.96.0.10:80", 0); err != nil {
		t.Fatalf("dial service address: got %v, want the redirect to reach the proxy port", err)
	}
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("proxy port accepted nothing")
	}
	hits, err := steer.Hits(ns, tab.Name)
	if err != nil {
		t.Fatal(err)
	}
	if hits == 0 {
		t.Errorf("hits: got 0, want the redirect rule's counter to count the connection")
	}

	// A marked connection is the proxy's own: it must go to the real
	// destination (nothing answers there, so the dial fails).
	if err := dialIn(ns, "10.96.0.10:80", mark); err == nil {
		t.Error("marked dial was redirected, want it left alone")
	}
}

func TestRemoveMissing(t *testing.T) {
	ns := testutil.NetNS(t)
	if err := steer.Remove(ns, "never-installed"); err != nil && !errors.Is(err, syscall.ENOENT) {
		t.Errorf("remove of a missing table: got %v, want nil", err)
	}
	if err := steer.Remove("/run/netns/mb-does-not-exist", "x"); err != nil {
		t.Errorf("remove in a missing namespace: got %v, want nil", err)
	}
}

func dialIn(ns, addr string, mark int) error {
	return nsenter.Do(ns, func() error {
		d := net.Dialer{Timeout: 300 * time.Millisecond, Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				if mark != 0 {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, mark)
				}
			}); err != nil {
				return err
			}
			return serr
		}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// addDummyRoute gives the namespace a route for prefix through a veth, so that connections to it leave through the output path.
func addDummyRoute(tb testing.TB, ns string, prefix netip.Prefix) {
	tb.Helper()
	h, err := vns.GetFromPath(ns)
	if err != nil {
		tb.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		tb.Fatal(err)
	}
	defer nl.Close()
	d := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: "v1"}
	if err := nl.LinkAdd(d); err != nil {
		tb.Fatalf("add veth: %v", err)
	}
	for _, name := range []string{"v0", "v1"} {
		l, err := nl.LinkByName(name)
		if err == nil {
			err = nl.LinkSetUp(l)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	a, _ := netlink.ParseAddr("10.0.0.1/24")
	if err := nl.AddrAdd(d, a); err != nil {
		tb.Fatal(err)
	}
	_, dst, _ := net.ParseCIDR(prefix.String())
	if err := nl.RouteAdd(&netlink.Route{LinkIndex: d.Attrs().Index, Dst: dst}); err != nil {
		tb.Fatalf("add route: %v", err)
	}
}

// TestRejectOutput checks that a Reject resets connections to its address
// and port, that a marked (proxy-owned) connection passes, and that other
// ports are left alone.
func TestRejectOutput(t *testing.T) {
	ns := testutil.NetNS(t)
	addDummyRoute(t, ns, netip.MustParsePrefix("10.96.0.0/16")) // gives the namespace 10.0.0.1
	var lns []net.Listener
	for _, addr := range []string{"10.0.0.1:8080", "10.0.0.1:8081"} {
		if err := nsenter.Do(ns, func() error {
			ln, err := net.Listen("tcp4", addr)
			lns = append(lns, ln)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ln := range lns {
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	if err := dialIn(ns, "10.0.0.1:8080", 0); err != nil {
		t.Fatalf("dial before the table: %v", err)
	}
	tab := steer.Table{NetNS: ns, Name: "mbtest", SkipMark: mark,
		Rules:   []steer.Rule{{Hook: steer.Output, DstPort: 1, ToPort: 15001}},
		Rejects: []steer.Reject{{Dst: netip.MustParsePrefix("10.0.0.1/32"), DstPort: 8080}}}
	if err := steer.Install(tab); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := steer.Remove(ns, tab.Name); err != nil {
			t.Error(err)
		}
	})
	if err := dialIn(ns, "10.0.0.1:8080", 0); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("unmarked dial to the rejected port: got %v, want connection refused", err)
	}
	if err := dialIn(ns, "10.0.0.1:8080", mark); err != nil {
		t.Errorf("marked dial to the rejected port: %v, want it to pass", err)
	}
	if err := dialIn(ns, "10.0.0.1:8081", 0); err != nil {
		t.Errorf("dial to another port: %v, want it to pass", err)
	}
}
