package pathprobe

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/hostfs"
)

// Role is the node agent that runs the probe on one node:
// `meshbench agent pathprobe -netns NAME=PATH ... -loopback-netns NAME=PATH ...
// -allow PREFIX ... -process NAME=CGROUP ...` (Options) watches the named
// network namespaces (paths as seen on the node), counting only traffic
// between addresses in the -allow prefixes if any, and in -loopback-netns
// namespaces between loopback addresses too (see [Load]); traces name the
// events of tasks in each -process cgroup after it. It answers the calls of [Client], so
// that the runner, possibly on another machine, touches no namespace and
// no BPF object. The probe's objects are freed when the agent exits.
const Role = "pathprobe"

// Caps are the capabilities the role needs where its provider starts it
// with no others (clusters.ProcSpec.Caps): loading and attaching tracing
// programs (CAP_BPF, CAP_PERFMON) and entering the watched namespaces for
// their netlink sockets (CAP_SYS_ADMIN, which also covers the other two).
var Caps = []clusters.Capability{clusters.CapBPF, clusters.CapPerfmon, clusters.CapSysAdmin}

// Namespace is a network namespace a probe agent watches.
type Namespace struct {
	// Name labels the namespace's events in traces ("pod client-0").
	Name string
	// Path is the namespace's bind mount on the node (/run/netns/NAME,
	// /proc/PID/ns/net).
	Path string
	// Loopback counts traffic between loopback addresses when the agent
	// filters addresses ([Netns].Loopback): true for pods, false for nodes.
	Loopback bool
}

// Process is a group of the run's processes on the node, which names the
// events its tasks cause in traces.
type Process struct {
	// Name labels the events ("app", "sidecar", "nodeproxy").
	Name string
	// Cgroup holds the processes (v2 path relative to the node's cgroup2
	// mount, as in clusters.Pod.Cgroup).
	Cgroup string
}

// Options are the role's flags: the namespaces it watches, the prefixes
// between whose addresses it counts (everything when there are none), and
// the processes whose events traces name.
type Options struct {
	Namespaces []Namespace
	Allow      []netip.Prefix
	Processes  []Process
}

// Args renders the arguments of the meshbench executable that run a probe
// agent with o.
func (o Options) Args() []string {
	args := []string{"agent", Role}
	for _, ns := range o.Namespaces {
		flag := "-netns"
		if ns.Loopback {
			flag = "-loopback-netns"
		}
		args = append(args, flag, ns.Name+"="+ns.Path)
	}
	for _, p := range o.Allow {
		args = append(args, "-allow", p.String())
	}
	for _, p := range o.Processes {
		args = append(args, "-process", p.Name+"="+p.Cgroup)
	}
	return args
}

// The role's methods.
var (
	attachMethod     = agent.Method[struct{}, Attached]{Name: "attach"}
	resetMethod      = agent.Method[struct{}, struct{}]{Name: "reset"}
	countsMethod     = agent.Method[struct{}, []Count]{Name: "counts"}
	startTraceMethod = agent.Method[struct{}, struct{}]{Name: "start-trace"}
	stopTraceMethod  = agent.Method[struct{}, []Step]{Name: "stop-trace"}
)

// Client calls a probe agent.
type Client struct {
	agent.Caller
}

// Attach loads and attaches the probe. A kernel that cannot run it is an
// answer (Attached.Unsupported), not an error.
func (c Client) Attach(ctx context.Context) (Attached, error) {
	return agent.Invoke(ctx, c.Caller, attachMethod, struct{}{})
}

// Reset zeroes the counters ([Probe.Reset]).
func (c Client) Reset(ctx context.Context) error {
	_, err := agent.Invoke(ctx, c.Caller, resetMethod, struct{}{})
	return err
}

// Counts returns the counters ([Probe.Counts]).
func (c Client) Counts(ctx context.Context) ([]Count, error) {
	return agent.Invoke(ctx, c.Caller, countsMethod, struct{}{})
}

// StartTrace starts recording events ([Probe.StartTrace]).
func (c Client) StartTrace(ctx context.Context) error {
	_, err := agent.Invoke(ctx, c.Caller, startTraceMethod, struct{}{})
	return err
}

// StopTrace stops recording and returns the events, ordered by time, with
// the names of their namespaces and devices ([Probe.StopTrace]).
func (c Client) StopTrace(ctx context.Context) ([]Step, error) {
	return agent.Invoke(ctx, c.Caller, stopTraceMethod, struct{}{})
}

// Attached answers Client.Attach.
type Attached struct {
	// Unsupported says why this node's kernel cannot run the probe (the
	// error of [Load] that wraps [ebpf.ErrNotSupported]); empty when the
	// probe is attached.
	Unsupported string `json:",omitempty"`
}

// Count is one counter of Client.Counts.
type Count struct {
	Key
	N uint64
}

// Step is one event of Client.StopTrace with the names of its namespace,
// device and actor, resolved on the node.
type Step struct {
	Event
	// Namespace is the watched namespace's name, or "netns INODE".
	Namespace string
	// Device is the device's name, "ifINDEX" if it is gone, and empty for
	// events without a device.
	Device string `json:",omitempty"`
	// Actor is who caused the event: the name of the Process whose cgroup
	// the task was in, "COMM[PID]" for a task of none, or KernelActor for
	// an event of a softirq or kernel thread, which no process caused.
	Actor string
}

// KernelActor is the actor of events the kernel handled for no process in
// particular: in a softirq, whichever task it interrupted, or in a kernel
// thread.
const KernelActor = "kernel"

// actor names who caused e, given the processes by cgroup id.
func actor(e Event, processes map[uint64]string) string {
	if e.Context != TaskContext {
		return KernelActor
	}
	if name, ok := processes[e.Cgroup]; ok {
		return name
	}
	return fmt.Sprintf("%s[%d]", e.Comm, e.Pid)
}

func parseOptions(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	watch := func(loopback bool) func(string) error {
		return func(s string) error {
			name, path, ok := strings.Cut(s, "=")
			if !ok || name == "" || path == "" {
				return errors.New("want NAME=PATH")
			}
			o.Namespaces = append(o.Namespaces, Namespace{Name: name, Path: path, Loopback: loopback})
			return nil
		}
	}
	fs.Func("netns", "watch the network namespace at PATH, labelled NAME in traces, as `NAME=PATH` (repeatable)", watch(false))
	fs.Func("loopback-netns", "like -netns, and count traffic between loopback addresses there too (a pod's) as `NAME=PATH` (repeatable)", watch(true))
	fs.Func("allow", "count only traffic between addresses in the IPv4 `PREFIX`es (repeatable); none: all traffic", func(s string) error {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return err
		}
		if !p.Addr().Is4() {
			return errors.New("want an IPv4 prefix")
		}
		o.Allow = append(o.Allow, p)
		return nil
	})
	fs.Func("process", "name the traced events of tasks in the cgroup at PATH (v2, relative to the cgroup2 mount) NAME, as `NAME=PATH` (repeatable)", func(s string) error {
		name, path, ok := strings.Cut(s, "=")
		if !ok || name == "" || path == "" {
			return errors.New("want NAME=PATH")
		}
		o.Processes = append(o.Processes, Process{Name: name, Cgroup: path})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	case len(o.Namespaces) == 0:
		return o, errors.New("parse flags: give at least one -netns or -loopback-netns")
	}
	return o, nil
}

// NodeAgent runs the role: it answers the calls of a Client until stdin
// closes, then frees the probe.
func NodeAgent(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	a, err := newNodeAgent(o.Namespaces, o.Allow)
	if err != nil {
		return err
	}
	if a.processes, err = processCgroups(o.Processes); err != nil {
		return err
	}
	err = agent.Serve(ctx, "", stdin, stdout, a.handlers()...)
	return errors.Join(err, a.close())
}

// nodeAgent is the state of one probe agent.
type nodeAgent struct {
	// watched maps the inode of every watched namespace to it.
	watched  map[uint64]Namespace
	prefixes []netip.Prefix
	// processes names the run's processes by the id of their cgroup.
	processes map[uint64]string
	probe     *Probe
}

// processCgroups maps the cgroup id of every process group to its name.
func processCgroups(ps []Process) (map[uint64]string, error) {
	out := make(map[uint64]string, len(ps))
	if len(ps) == 0 {
		return out, nil
	}
	cg, err := hostfs.DetectCgroups()
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		rel := strings.TrimPrefix(p.Cgroup, "/")
		if !filepath.IsLocal(rel) && rel != "" {
			return nil, fmt.Errorf("process %s: cgroup %q is not a path under the cgroup2 mount", p.Name, p.Cgroup)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(cg.Dir(rel), &st); err != nil {
			return nil, fmt.Errorf("process %s: stat cgroup %s: %w", p.Name, cg.Dir(rel), err)
		}
		out[st.Ino] = p.Name
	}
	return out, nil
}

func newNodeAgent(nss []Namespace, prefixes []netip.Prefix) (*nodeAgent, error) {
	a := &nodeAgent{watched: make(map[uint64]Namespace, len(nss)), prefixes: prefixes}
	for _, ns := range nss {
		ino, err := NetnsInode(ns.Path)
		if err != nil {
			return nil, err
		}
		// Two names for one namespace (host-network pods): the first
		// labels it, and loopback counts if any of them asks for it,
		// since a request may take it.
		first, ok := a.watched[ino]
		if !ok {
			a.watched[ino] = ns
			continue
		}
		first.Loopback = first.Loopback || ns.Loopback
		a.watched[ino] = first
	}
	return a, nil
}

func (a *nodeAgent) handlers() []agent.Handler {
	return []agent.Handler{
		agent.Handle(attachMethod, func(context.Context, struct{}) (Attached, error) { return a.attach() }),
		agent.Handle(resetMethod, func(context.Context, struct{}) (struct{}, error) {
			p, err := a.attached()
			if err != nil {
				return struct{}{}, err
			}
			return struct{}{}, p.Reset()
		}),
		agent.Handle(countsMethod, func(context.Context, struct{}) ([]Count, error) {
			p, err := a.attached()
			if err != nil {
				return nil, err
			}
			counts, err := p.Counts()
			if err != nil {
				return nil, err
			}
			out := make([]Count, 0, len(counts))
			for k, n := range counts {
				out = append(out, Count{Key: k, N: n})
			}
			return out, nil
		}),
		agent.Handle(startTraceMethod, func(context.Context, struct{}) (struct{}, error) {
			p, err := a.attached()
			if err != nil {
				return struct{}{}, err
			}
			return struct{}{}, p.StartTrace()
		}),
		agent.Handle(stopTraceMethod, func(context.Context, struct{}) ([]Step, error) {
			p, err := a.attached()
			if err != nil {
				return nil, err
			}
			events, err := p.StopTrace()
			if err != nil {
				return nil, err
			}
			return a.label(events)
		}),
	}
}

// attach loads and attaches the probe; a kernel that lacks what it needs
// is an answer, not an error, so that the runner can skip the probe.
func (a *nodeAgent) attach() (Attached, error) {
	if a.probe != nil {
		return Attached{}, errors.New("attach path probe: already attached")
	}
	nss := make([]Netns, 0, len(a.watched))
	for ino, ns := range a.watched {
		nss = append(nss, Netns{Inode: ino, Loopback: ns.Loopback})
	}
	p, err := Load(nss, a.prefixes)
	if errors.Is(err, ebpf.ErrNotSupported) {
		return Attached{Unsupported: err.Error()}, nil
	}
	if err != nil {
		return Attached{}, err
	}
	if err := p.Attach(); err != nil {
		return Attached{}, errors.Join(err, p.Close())
	}
	a.probe = p
	return Attached{}, nil
}

func (a *nodeAgent) attached() (*Probe, error) {
	if a.probe == nil {
		return nil, errors.New("path probe not attached: call " + attachMethod.Name + " first")
	}
	return a.probe, nil
}

func (a *nodeAgent) close() error {
	if a.probe == nil {
		return nil
	}
	return a.probe.Close()
}

// label names the namespace and device of every event, listing the devices
// of each namespace once, now: devices a datapath added after the agent
// started are named too.
func (a *nodeAgent) label(events []Event) ([]Step, error) {
	devices := map[uint64]map[uint32]string{}
	steps := make([]Step, 0, len(events))
	for _, e := range events {
		s := Step{Event: e, Namespace: fmt.Sprintf("netns %d", e.Netns), Actor: actor(e, a.processes)}
		ns, ok := a.watched[e.Netns]
		if ok {
			s.Namespace = ns.Name
		}
		if e.Ifindex != 0 {
			s.Device = fmt.Sprintf("if%d", e.Ifindex)
			devs, listed := devices[e.Netns]
			if ok && !listed {
				var err error
				if devs, err = listDevices(ns.Path); err != nil {
					return nil, err
				}
				devices[e.Netns] = devs
			}
			if d, found := devs[e.Ifindex]; found {
				s.Device = d
			}
		}
		steps = append(steps, s)
	}
	slices.SortStableFunc(steps, func(x, y Step) int { return cmp.Compare(x.Time, y.Time) })
	return steps, nil
}

// listDevices maps the ifindex of every device in the namespace at nsPath
// to its name.
func listDevices(nsPath string) (map[uint32]string, error) {
	h, err := vns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer nl.Close()
	links, err := nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links in %s: %w", nsPath, err)
	}
	out := make(map[uint32]string, len(links))
	for _, l := range links {
		out[uint32(l.Attrs().Index)] = l.Attrs().Name
	}
	return out, nil
}
