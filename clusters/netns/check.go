package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
)

// ErrUnsupportedKernel is returned, wrapped with what is missing and with
// clusters.ErrConfig, by Check when the kernel lacks something the provider
// needs.
var ErrUnsupportedKernel = errors.New("the kernel lacks a feature the netns provider needs (Linux >= 5.10 with network namespaces, veth, bridge, nf_tables NAT and cgroup2)")

// Check reports whether this host can run the provider's clusters, of any
// size: it returns clusters.ErrNotRoot without root and an error wrapping
// ErrUnsupportedKernel and clusters.ErrConfig when network namespaces,
// veth, bridges, nf_tables NAT or cgroup2 are not usable. It leaves
// nothing behind: the features are tried in an unnamed namespace that
// disappears with the thread that made it.
func (p *Provider) Check(context.Context, clusters.Need) error { return check() }

func check() error {
	if os.Geteuid() != 0 {
		return clusters.ErrNotRoot
	}
	cg, err := detectCgroups()
	if err != nil {
		return unsupported(err)
	}
	if err := unix.Access(cg.mounts.V2, unix.W_OK); err != nil {
		return unsupported(fmt.Errorf("cgroup2 at %s is not writable: %w", cg.mounts.V2, err))
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return unsupported(fmt.Errorf("network namespaces: %w", err))
	}
	res := make(chan error, 1)
	go func() {
		// Never unlocked: the thread exits with this goroutine, taking the
		// throwaway namespace with it.
		runtime.LockOSThread()
		res <- probe()
	}()
	if err := <-res; err != nil {
		return unsupported(err)
	}
	return nil
}

// unsupported says what of the kernel's the provider misses; the user must
// change the host (or the provider), so it is a configuration error.
func unsupported(err error) error {
	return clusters.ConfigErrorf("%w: %w", ErrUnsupportedKernel, err)
}

// probe tries, in a new unnamed network namespace of the calling (locked)
// thread, everything a cluster uses.
func probe() error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("network namespaces: %w", err)
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network namespaces: %w", err)
	}
	defer unix.Close(fd)
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("rtnetlink: %w", err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probe-br"}}); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe-a", Flags: net.FlagUp}, PeerName: "probe-b"}); err != nil {
		return fmt.Errorf("veth: %w", err)
	}
	conn, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return fmt.Errorf("nf_tables: %w", err)
	}
	t := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "probe"})
	conn.AddChain(&nftables.Chain{
		Table: t, Name: "probe", Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest,
	})
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nf_tables NAT: %w", err)
	}
	return nil
}
