package kubenode

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/hostfs"
)

// InspectRole is the node-agent role that tells where the run's pods live
// on a node: the host PID of a process in each, hence its network
// namespace, its cgroups and its host-side interface. The provider runs it
// once per node after the pods run and fills the topology with what it
// reports, so that node-level processes can find the pods.
const InspectRole = "kube-inspect"

// InspectOptions are the inspect role's flags: it has none.
type InspectOptions struct{}

// Args renders the arguments of the meshbench executable that run the
// inspect role.
func (InspectOptions) Args() []string { return []string{"agent", InspectRole} }

func parseInspectOptions(args []string, stderr io.Writer) (InspectOptions, error) {
	fs := flag.NewFlagSet(InspectRole, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return InspectOptions{}, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return InspectOptions{}, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	return InspectOptions{}, nil
}

// inspectMethod finds pods on the node.
var inspectMethod = agent.Method[inspectArgs, map[string]Place]{Name: "inspect"}

// InspectClient calls an inspect agent.
type InspectClient struct {
	agent.Caller
}

// Inspect returns where each of pods lives on the agent's node, by name.
func (c InspectClient) Inspect(ctx context.Context, pods []Pod) (map[string]Place, error) {
	return agent.Invoke(ctx, c.Caller, inspectMethod, inspectArgs{Pods: pods})
}

// inspectArgs name the pods to find: by UID, with the IDs of their
// containers (the runtime's, without the "containerd://" scheme).
type inspectArgs struct {
	Pods []Pod
}

type Pod struct {
	Name string
	UID  string
	// Containers maps container names to runtime IDs; Main is the one
	// whose process stands for the pod (its namespaces).
	Containers map[string]string
	Main       string
}

// Place is where a pod lives on its node, in paths a node agent can
// open.
type Place struct {
	NetNS  string
	Cgroup string // the pod's cgroup v2, relative to the mount
	// Containers maps container names to their cgroups.
	Containers map[string]string
	// Veth is the host-side interface of the pod's eth0; empty when the
	// pod shares the node's network namespace.
	Veth string
	// Gateway is the pod's default gateway: the node's address on the
	// pod network, which node-level processes (a node proxy) dial pods
	// from.
	Gateway netip.Addr
}

// Inspect runs the inspect role: it answers InspectClient's calls until
// stdin closes.
func Inspect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if _, err := parseInspectOptions(args, stderr); err != nil {
		return err
	}
	return agent.Serve(ctx, "", stdin, stdout,
		agent.Handle(inspectMethod, func(_ context.Context, in inspectArgs) (map[string]Place, error) {
			return inspect(in.Pods)
		}),
	)
}

// inspect finds the pods' processes among the node's. Cgroup paths are
// read in the host's cgroup namespace, so that they are relative to the
// cgroup2 mount whatever cgroup namespace the node agent's container got.
func inspect(pods []Pod) (map[string]Place, error) {
	procs, err := hostCgroups()
	if err != nil {
		return nil, err
	}
	out := map[string]Place{}
	for _, p := range pods {
		pl := Place{Containers: map[string]string{}}
		mainPid, mainStart := 0, uint64(0)
		for name, id := range p.Containers {
			for pid, cg := range procs {
				if strings.Contains(path.Base(cg), id) && inPod(cg, p.UID) {
					pl.Containers[name] = cg
					pl.Cgroup = path.Dir(cg)
					if name != p.Main {
						continue
					}
					// The container's oldest process stands for it: an
					// agent exec'd into it may end any time. Not the
					// lowest PID: PIDs wrap around (pid_max is often
					// 32768), so a newer process can have a lower one.
					start, err := startTime(pid)
					if err != nil {
						continue // the process exited
					}
					if mainPid == 0 || start < mainStart || (start == mainStart && pid < mainPid) {
						mainPid, mainStart = pid, start
					}
				}
			}
			if _, ok := pl.Containers[name]; !ok {
				return nil, fmt.Errorf("pod %s: no process of container %s (%s) on this node", p.Name, name, id)
			}
		}
		if mainPid == 0 {
			return nil, fmt.Errorf("pod %s: no process of its container %s on this node", p.Name, p.Main)
		}
		pl.NetNS = "/proc/" + strconv.Itoa(mainPid) + "/ns/net"
		if pl.Veth, pl.Gateway, err = podLink(pl.NetNS); err != nil {
			return nil, fmt.Errorf("pod %s: %w", p.Name, err)
		}
		out[p.Name] = pl
	}
	return out, nil
}

// startTime returns when the process started, in clock ticks since boot
// (field 22 of /proc/PID/stat).
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStartTime(string(b))
}

// parseStartTime reads the start time from a /proc/PID/stat line, whose
// second field, the command in parentheses, may hold spaces and
// parentheses itself.
func parseStartTime(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat %q: no command", stat)
	}
	// After the command: state (field 3) ... starttime (field 22).
	f := strings.Fields(stat[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc stat %q: %d fields after the command, want at least 20", stat, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// inPod reports whether cgroup is in the pod with uid: the kubelet names
// pod cgroups "pod<uid>" with the cgroupfs driver and "...-pod<uid with _
// for ->.slice" with the systemd driver.
func inPod(cgroup, uid string) bool {
	return strings.Contains(cgroup, "pod"+uid) || strings.Contains(cgroup, "pod"+strings.ReplaceAll(uid, "-", "_"))
}

// hostCgroups maps every process of the host to its cgroup v2 path,
// relative to the cgroup2 mount.
func hostCgroups() (map[int]string, error) {
	out := map[int]string{}
	err := inHostCgroupNS(func() error {
		dirs, err := os.ReadDir("/proc")
		if err != nil {
			return err
		}
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cgroup"))
			if err != nil {
				continue // the process exited
			}
			if cg, _ := hostfs.ParseProcCgroup(string(b)); cg != "" {
				out[pid] = cg
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the node's processes: %w", err)
	}
	return out, nil
}

// inHostCgroupNS runs fn on a thread that joined the cgroup namespace of
// the node's init where it can (a node agent in a container with a cgroup
// namespace of its own would read paths relative to it); where /proc/1 is
// closed to it, fn runs in the process's cgroup namespace, which node
// agents then share with the node. The thread is not returned to the
// runtime: it ends with the goroutine.
func inHostCgroupNS(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if f, err := os.Open("/proc/1/ns/cgroup"); err == nil {
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWCGROUP); err != nil {
				errc <- fmt.Errorf("join the host's cgroup namespace: %w", err)
				return
			}
		}
		errc <- fn()
	}()
	return <-errc
}

// podLink returns, for the pod's namespace at nsPath, the name in the
// calling process's network namespace (the node's) of the peer of its eth0
// and its default gateway; nothing when that namespace is the node's own.
func podLink(nsPath string) (string, netip.Addr, error) {
	podNS, err := vns.GetFromPath(nsPath)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("open network namespace: %w", err)
	}
	defer podNS.Close()
	self, err := vns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("open own network namespace: %w", err)
	}
	defer self.Close()
	if podNS.Equal(self) {
		return "", netip.Addr{}, nil
	}
	h, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("netlink in pod namespace: %w", err)
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("find eth0: %w", err)
	}
	peer, err := netlink.LinkByIndex(eth0.Attrs().ParentIndex)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("find the node side of eth0 (index %d): %w", eth0.Attrs().ParentIndex, err)
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("list the pod's routes: %w", err)
	}
	var gw netip.Addr
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			if a, ok := netip.AddrFromSlice(r.Gw); ok {
				gw = a.Unmap()
			}
		}
	}
	return peer.Attrs().Name, gw, nil
}
