package pathprobe

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"

	"github.com/meshbench/meshbench/internal/agent"
)

// Role is the node agent that runs the probe on one node:
// `meshbench agent pathprobe -netns NAME=PATH ... -loopback-netns NAME=PATH ...
// -allow PREFIX ...` watches the named network namespaces (paths as seen on
// the node), counting only traffic between addresses in the -allow prefixes
// if any, and in -loopback-netns namespaces between loopback addresses too
// (see [Load]). It answers the Method* calls, so that the runner, possibly
// on another machine, touches no namespace and no BPF object. The probe's
// objects are freed when the agent exits.
const Role = "pathprobe"

// The role's methods, called with agentctl.Agent.Call and no arguments.
const (
	// MethodAttach loads and attaches the probe; it answers [Attached].
	MethodAttach = "attach"
	// MethodReset zeroes the counters ([Probe.Reset]).
	MethodReset = "reset"
	// MethodCounts answers the counters as []Count ([Probe.Counts]).
	MethodCounts = "counts"
	// MethodStartTrace starts recording events ([Probe.StartTrace]).
	MethodStartTrace = "start-trace"
	// MethodStopTrace stops recording and answers the events as []Step,
	// ordered by time ([Probe.StopTrace]).
	MethodStopTrace = "stop-trace"
)

func init() { agent.Register(Role, runRole) }

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

// Args renders the arguments of the meshbench executable that run a probe
// agent watching nss and counting only traffic between addresses in
// prefixes (everything when there are none).
func Args(nss []Namespace, prefixes []netip.Prefix) []string {
	args := []string{"agent", Role}
	for _, ns := range nss {
		flag := "-netns"
		if ns.Loopback {
			flag = "-loopback-netns"
		}
		args = append(args, flag, ns.Name+"="+ns.Path)
	}
	for _, p := range prefixes {
		args = append(args, "-allow", p.String())
	}
	return args
}

// Attached answers MethodAttach.
type Attached struct {
	// Unsupported says why this node's kernel cannot run the probe (the
	// error of [Load] that wraps [ebpf.ErrNotSupported]); empty when the
	// probe is attached.
	Unsupported string `json:",omitempty"`
}

// Count is one counter of MethodCounts.
type Count struct {
	Key
	N uint64
}

// Step is one event of MethodStopTrace with the names of its namespace and
// device, resolved on the node.
type Step struct {
	Event
	// Namespace is the watched namespace's name, or "netns INODE".
	Namespace string
	// Device is the device's name, "ifINDEX" if it is gone, and empty for
	// events without a device.
	Device string `json:",omitempty"`
}

func runRole(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var (
		nss      []Namespace
		prefixes []netip.Prefix
	)
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	watch := func(loopback bool) func(string) error {
		return func(s string) error {
			name, path, ok := strings.Cut(s, "=")
			if !ok || name == "" || path == "" {
				return errors.New("want NAME=PATH")
			}
			nss = append(nss, Namespace{Name: name, Path: path, Loopback: loopback})
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
		prefixes = append(prefixes, p)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	case len(nss) == 0:
		return errors.New("parse flags: give at least one -netns or -loopback-netns")
	}
	a, err := newNodeAgent(nss, prefixes)
	if err != nil {
		return err
	}
	err = agent.Serve(ctx, "", stdin, stdout, a.methods())
	return errors.Join(err, a.close())
}

// nodeAgent is the state of one probe agent.
type nodeAgent struct {
	// watched maps the inode of every watched namespace to it.
	watched  map[uint64]Namespace
	prefixes []netip.Prefix
	probe    *Probe
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

func (a *nodeAgent) methods() map[string]agent.Method {
	return map[string]agent.Method{
		MethodAttach: func(context.Context, []byte) (any, error) { return a.attach() },
		MethodReset: func(context.Context, []byte) (any, error) {
			p, err := a.attached()
			if err != nil {
				return nil, err
			}
			return nil, p.Reset()
		},
		MethodCounts: func(context.Context, []byte) (any, error) {
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
		},
		MethodStartTrace: func(context.Context, []byte) (any, error) {
			p, err := a.attached()
			if err != nil {
				return nil, err
			}
			return nil, p.StartTrace()
		},
		MethodStopTrace: func(context.Context, []byte) (any, error) {
			p, err := a.attached()
			if err != nil {
				return nil, err
			}
			events, err := p.StopTrace()
			if err != nil {
				return nil, err
			}
			return a.label(events)
		},
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
		return nil, errors.New("path probe not attached: call " + MethodAttach + " first")
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
		s := Step{Event: e, Namespace: fmt.Sprintf("netns %d", e.Netns)}
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
