package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/nsenter"
)

// onThread runs fn on a fresh OS thread that is discarded afterwards
// (nsenter.OnThread), so a thread fn leaves in a run's namespace never runs
// anything else.
func onThread(fn func(t *thread) error) error {
	return nsenter.OnThread(func() error {
		t, err := currentThread()
		if err != nil {
			return err
		}
		defer t.orig.Close()
		return fn(t)
	})
}

// thread is a goroutine locked to its OS thread, remembering the thread's
// network namespace so that it can come back to it between namespaces.
type thread struct {
	orig vnetns.NsHandle
}

// currentThread remembers the namespace of the calling thread, which must
// be locked.
func currentThread() (*thread, error) {
	orig, err := vnetns.Get()
	if err != nil {
		return nil, fmt.Errorf("get thread network namespace: %w", err)
	}
	return &thread{orig: orig}, nil
}

// restore puts the thread back into its original namespace.
func (t *thread) restore() error {
	if err := vnetns.Set(t.orig); err != nil {
		return fmt.Errorf("restore thread network namespace: %w", err)
	}
	return nil
}

// sysctl is one /proc/sys/net setting written inside a new namespace.
type sysctl struct {
	path, value string
	optional    bool // absent when the kernel lacks the protocol (ipv6)
}

var (
	// IPv6 is off on every link of the run: no autoconfiguration, router
	// or neighbour solicitations adding packets to counted paths. Links
	// made after this take the default; "all" would also cover lo, but its
	// handler spins (restart_syscall) while another worker holds the RTNL.
	noIPv6      = []sysctl{{"/proc/sys/net/ipv6/conf/default/disable_ipv6", "1", true}}
	nodeSysctls = append([]sysctl{{"/proc/sys/net/ipv4/ip_forward", "1", false}}, noIPv6...)
)

// newNamespace creates the named network namespace, mounted under
// /run/netns like `ip netns add`, and writes sysctls inside it. It leaves
// the calling thread inside the new namespace; the caller restores it.
func (t *thread) newNamespace(name string, sysctls []sysctl) (vnetns.NsHandle, error) {
	h, err := vnetns.NewNamed(name)
	if err != nil {
		return vnetns.None(), fmt.Errorf("create network namespace %s: %w", name, err)
	}
	// /proc/sys/net resolves to the namespace of the opening thread.
	for _, s := range sysctls {
		err := os.WriteFile(s.path, []byte(s.value), 0)
		if err != nil && !(s.optional && errors.Is(err, fs.ErrNotExist)) {
			h.Close()
			return vnetns.None(), fmt.Errorf("set %s in network namespace %s: %w", s.path, name, err)
		}
	}
	return h, nil
}

// deleteNamespace unmounts and removes a /run/netns entry; the kernel frees
// the namespace, and the links in it, when nothing else holds it. A missing
// entry is not an error.
func deleteNamespace(name string) error {
	err := vnetns.DeleteNamed(name)
	switch {
	case err == nil, errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.Is(err, unix.EINVAL): // not mounted: a failed create left the file
		if err := os.Remove(filepath.Join(netnsDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete network namespace %s: %w", name, err)
		}
		return nil
	default:
		return fmt.Errorf("delete network namespace %s: %w", name, err)
	}
}

// shareNetnsDir makes /run/netns a shared mount of its own, as iproute2 does
// on its first `ip netns add`. Otherwise a later `ip netns add` would bind
// /run/netns over itself and hide the run's namespace mounts underneath,
// which could then no longer be removed by name.
func shareNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", netnsDir, err)
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("share %s: %w", netnsDir, err)
	}
	return nil
}
