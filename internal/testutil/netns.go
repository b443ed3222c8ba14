package testutil

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var nsSeq atomic.Uint64

// NetNS creates a throwaway named network namespace with loopback up and
// returns its path; the test's cleanup deletes it. The host namespace is
// never touched: the namespace is created from a locked thread that returns
// to where it was.
func NetNS(tb testing.TB) string {
	tb.Helper()
	Privileged(tb)
	name := fmt.Sprintf("mbtest-%d-%d", nsSeq.Add(1), runtimeID())
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		tb.Fatalf("get current netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err != nil {
		tb.Fatalf("create netns %s: %v", name, err)
	}
	defer ns.Close()
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace: it must not be reused.
		panic(fmt.Sprintf("restore netns: %v", err))
	}
	tb.Cleanup(func() { _ = netns.DeleteNamed(name) })
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

func runtimeID() int { return os.Getpid() }
