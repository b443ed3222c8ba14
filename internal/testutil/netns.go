package testutil

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/meshbench/meshbench/internal/nsenter"
)

var nsSeq atomic.Uint64

// NetNS creates a throwaway named network namespace with loopback up and
// returns its path; the test's cleanup deletes it. The host namespace is
// never touched: the namespace is created on a thread of its own
// (nsenter.OnThread), which is discarded afterwards.
func NetNS(tb testing.TB) string {
	tb.Helper()
	Privileged(tb)
	name := fmt.Sprintf("mbtest-%d-%d", os.Getpid(), nsSeq.Add(1))
	var ns vnetns.NsHandle
	err := nsenter.OnThread(func() (err error) {
		ns, err = vnetns.NewNamed(name)
		return err
	})
	if err != nil {
		tb.Fatalf("create netns %s: %v", name, err)
	}
	defer ns.Close()
	tb.Cleanup(func() { _ = vnetns.DeleteNamed(name) })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		tb.Fatalf("netlink handle in %s: %v", name, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		tb.Fatalf("set lo up in %s: %v", name, err)
	}
	return "/run/netns/" + name
}
