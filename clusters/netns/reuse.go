package netns

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
)

var _ clusters.Reusable = (*Cluster)(nil)

// cgroupAttachTypes are the cgroup BPF attach points Residue looks at:
// every one a datapath could use on a pod's or proxy's cgroup.
var cgroupAttachTypes = []ebpf.AttachType{
	ebpf.AttachCGroupInetIngress, ebpf.AttachCGroupInetEgress,
	ebpf.AttachCGroupInetSockCreate, ebpf.AttachCgroupInetSockRelease,
	ebpf.AttachCGroupSockOps, ebpf.AttachCGroupDevice, ebpf.AttachCGroupSysctl,
	ebpf.AttachCGroupInet4Bind, ebpf.AttachCGroupInet6Bind,
	ebpf.AttachCGroupInet4Connect, ebpf.AttachCGroupInet6Connect,
	ebpf.AttachCGroupInet4PostBind, ebpf.AttachCGroupInet6PostBind,
	ebpf.AttachCGroupUDP4Sendmsg, ebpf.AttachCGroupUDP6Sendmsg,
	ebpf.AttachCGroupUDP4Recvmsg, ebpf.AttachCGroupUDP6Recvmsg,
	ebpf.AttachCgroupInet4GetPeername, ebpf.AttachCgroupInet6GetPeername,
	ebpf.AttachCgroupInet4GetSockname, ebpf.AttachCgroupInet6GetSockname,
	ebpf.AttachCGroupGetsockopt, ebpf.AttachCGroupSetsockopt,
}

// Residue lists what the cluster holds beyond what Create made: processes
// in its cgroups and namespaces, nftables tables in its namespaces that
// were not there when it was built, BPF programs attached to its cgroups,
// and BPF programs, clsact qdiscs or XDP on its devices.
func (c *Cluster) Residue(context.Context) ([]string, error) {
	left, err := Leftovers(c.topo.RunID)
	if err != nil {
		return nil, fmt.Errorf("find processes of cluster %s: %w", c.topo.Name, err)
	}
	var out []string
	for _, p := range left.Processes {
		out = append(out, fmt.Sprintf("process %d (%s)", p.PID, p.Command))
	}
	tables, err := c.tables()
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		if !slices.Contains(c.builtTables, t) {
			out = append(out, t)
		}
	}
	cg, err := c.cgroupPrograms()
	if err != nil {
		return nil, err
	}
	dev, err := c.devicePrograms()
	if err != nil {
		return nil, err
	}
	return append(append(out, cg...), dev...), nil
}

// Inject gives the cluster inject in place of the injection it had: the
// capabilities of its pod containers, and its init containers run in
// every pod.
func (c *Cluster) Inject(ctx context.Context, inject clusters.Injection) error {
	c.mu.Lock()
	c.netAdmin, c.inject = map[string]bool{}, inject.PodContainers
	for _, ct := range inject.PodContainers {
		c.netAdmin[ct.Name] = ct.NetAdmin
	}
	c.mu.Unlock()
	if err := c.runInitContainers(ctx, inject.PodContainers); err != nil {
		return fmt.Errorf("inject into cluster %s: %w", c.topo.Name, err)
	}
	return nil
}

// namespace is one of the cluster's network namespaces and what to call it.
type namespace struct{ path, where string }

func (c *Cluster) namespaces() []namespace {
	out := []namespace{{c.topo.FabricNetNS, "the fabric"}}
	for _, n := range c.topo.Nodes {
		out = append(out, namespace{n.NetNS, "node " + n.Name})
	}
	for _, p := range c.topo.Pods {
		out = append(out, namespace{p.NetNS, "pod " + p.Name})
	}
	return out
}

// tables lists the nftables tables in the cluster's namespaces, as
// "nftables table ip NAME in node n1".
func (c *Cluster) tables() ([]string, error) {
	var out []string
	for _, ns := range c.namespaces() {
		err := inNamespaceFD(ns.path, func(fd int) error {
			conn, err := nftables.New(nftables.WithNetNSFd(fd))
			if err != nil {
				return err
			}
			tables, err := conn.ListTables()
			if err != nil {
				return err
			}
			for _, t := range tables {
				out = append(out, fmt.Sprintf("nftables table %s %s in %s", family(t.Family), t.Name, ns.where))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list nftables tables in %s: %w", ns.where, err)
		}
	}
	return out, nil
}

func family(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	default:
		return fmt.Sprintf("family-%d", f)
	}
}

// inNamespaceFD calls fn with a descriptor of the namespace at path.
func inNamespaceFD(path string, fn func(fd int) error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	return fn(fd)
}

// cgroupPrograms lists the BPF programs attached directly to the cluster's
// cgroups (v2), its nodes', pods' and containers'.
func (c *Cluster) cgroupPrograms() ([]string, error) {
	var out []string
	for _, n := range c.topo.Nodes {
		root := c.cg.Dir(n.Cgroup)
		err := filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			f, err := os.Open(dir)
			if err != nil {
				return err
			}
			defer f.Close()
			for _, at := range cgroupAttachTypes {
				q, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: at})
				if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) {
					continue
				}
				if err != nil {
					return fmt.Errorf("query %s programs of cgroup %s: %w", at, dir, err)
				}
				if n := len(q.Programs); n > 0 {
					rel, _ := filepath.Rel(filepath.Dir(root), dir)
					out = append(out, fmt.Sprintf("%d %s BPF programs on cgroup %s", n, at, rel))
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list cgroup BPF programs of node %s: %w", n.Name, err)
		}
	}
	return out, nil
}

// devicePrograms lists, in the cluster's namespaces, the devices with TCX
// programs, a clsact qdisc (tc filters hang from it) or an XDP program.
func (c *Cluster) devicePrograms() ([]string, error) {
	var out []string
	for _, ns := range c.namespaces() {
		err := onThread(func(t *thread) error {
			h, err := vnetns.GetFromPath(ns.path)
			if err != nil {
				return fmt.Errorf("open %s: %w", ns.path, err)
			}
			defer h.Close()
			if err := vnetns.Set(h); err != nil {
				return fmt.Errorf("enter %s: %w", ns.path, err)
			}
			defer t.restore()
			links, err := netlink.LinkList()
			if err != nil {
				return fmt.Errorf("list devices: %w", err)
			}
			for _, l := range links {
				a := l.Attrs()
				for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
					q, err := link.QueryPrograms(link.QueryOptions{Target: a.Index, Attach: at})
					if errors.Is(err, ebpf.ErrNotSupported) {
						continue
					}
					if err != nil {
						return fmt.Errorf("query %s programs of %s: %w", at, a.Name, err)
					}
					if n := len(q.Programs); n > 0 {
						out = append(out, fmt.Sprintf("%d %s BPF programs on %s in %s", n, at, a.Name, ns.where))
					}
				}
				if a.Xdp != nil && a.Xdp.Attached {
					out = append(out, fmt.Sprintf("XDP program on %s in %s", a.Name, ns.where))
				}
				qdiscs, err := netlink.QdiscList(l)
				if err != nil {
					return fmt.Errorf("list qdiscs of %s: %w", a.Name, err)
				}
				for _, q := range qdiscs {
					if q.Type() == "clsact" || q.Type() == "ingress" {
						out = append(out, fmt.Sprintf("%s qdisc on %s in %s", q.Type(), a.Name, ns.where))
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list device BPF programs in %s: %w", ns.where, err)
		}
	}
	return out, nil
}
