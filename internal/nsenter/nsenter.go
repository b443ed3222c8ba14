// Package nsenter runs code inside a network namespace given by its path,
// the one way the tree enters a namespace it did not create itself.
//
// A thread that has been moved into another namespace is never handed back
// to the Go scheduler: fn runs on a fresh goroutine that stays locked to its
// OS thread until it exits, so Go discards the thread with it, whatever fn
// or setns(2) did to it. The caller's thread is never switched.
package nsenter

import (
	"errors"
	"fmt"
	"runtime"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrNotNamespace is returned by Check and Do for a path that exists but is
// not a namespace file (a bind mount under /run/netns or /proc/<pid>/ns/*).
var ErrNotNamespace = errors.New("not a namespace file")

// Check returns nil if path is a namespace file, as CNI's ns.IsNSorErr
// decides: its file system is nsfs, or procfs on kernels before 3.19, where
// /proc/<pid>/ns/* were procfs files. It wraps fs.ErrNotExist for a missing
// path and ErrNotNamespace for any other file.
func Check(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("check namespace %s: %w", path, err)
	}
	switch uint32(st.Type) {
	case unix.NSFS_MAGIC, unix.PROC_SUPER_MAGIC:
		return nil
	}
	return fmt.Errorf("check namespace %s: %w (file system magic %#x)", path, ErrNotNamespace, uint32(st.Type))
}

// Do runs fn inside the network namespace at nsPath (a /run/netns bind
// mount or /proc/<pid>/ns/net), on a fresh OS thread that is discarded
// afterwards. Sockets fn creates stay in that namespace and may be used from
// any goroutine; goroutines fn starts do not run in it. Do returns fn's
// error, or an error wrapping ErrNotNamespace when nsPath is no namespace.
func Do(nsPath string, fn func() error) error {
	if err := Check(nsPath); err != nil {
		return fmt.Errorf("enter network namespace: %w", err)
	}
	return OnThread(func() error {
		target, err := vnetns.GetFromPath(nsPath)
		if err != nil {
			return fmt.Errorf("enter network namespace %s: %w", nsPath, err)
		}
		defer target.Close()
		// setns(2) with CLONE_NEWNET refuses a namespace of another type.
		if err := vnetns.Set(target); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", nsPath, err)
		}
		return fn()
	})
}

// OnThread runs fn on a fresh goroutine locked to its OS thread and waits
// for it. The goroutine exits without unlocking, so the thread, and any
// namespace fn moved it into, ends with it and never runs other goroutines.
func OnThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: Go terminates a thread whose goroutine exits
		// locked to it.
		errc <- fn()
	}()
	return <-errc
}
