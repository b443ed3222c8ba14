// Package costagent is the node-agent role that measures what a node's
// processes cost: the runner starts one per node for the measure phase and
// asks it, for named groups of cgroups (a datapath's, the applications'),
// for their memory and CPU. It runs on the node because on a real cluster
// the runner reaches neither the node's /proc nor its cgroups.
//
// Lifecycle: the runner starts `meshbench agent cost` (Options.Args) on a
// node and, through a Client, calls Start with the groups, which samples
// once and then every Every in the background, and Stop, which ends the
// sampling and returns a Cost per group. The agent exits when its stdin
// closes.
package costagent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/hostfs"
)

// Role is the agent role: `meshbench agent cost`.
const Role = "cost"

// Every is the sampling period. Reading smaps_rollup of a hundred proxies
// costs a few milliseconds of the node's CPU.
const Every = 250 * time.Millisecond

// Caps are the capabilities the role needs where its provider starts it
// with no others (clusters.ProcSpec.Caps): CAP_SYS_PTRACE, since the kernel
// shows a process's smaps_rollup only to a reader holding every capability
// the process holds, or that one.
var Caps = []clusters.Capability{clusters.CapSysPtrace}

// Options are the role's flags: it has none.
type Options struct{}

// Args renders the arguments of the meshbench executable that run the role.
func (Options) Args() []string { return []string{"agent", Role} }

func parseOptions(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return Options{}, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	return Options{}, nil
}

// startArgs is the argument of startMethod.
type startArgs struct {
	// Groups names lists of cgroup v2 paths relative to the node's cgroup2
	// mount (as in clusters.Pod.Cgroup); each cgroup counts with its
	// descendants.
	Groups map[string][]string `json:"groups"`
}

// The role's methods.
var (
	startMethod = agent.Method[startArgs, struct{}]{Name: "start"}
	stopMethod  = agent.Method[struct{}, map[string]Cost]{Name: "stop"}
)

// Client calls a cost agent.
type Client struct {
	agent.Caller
}

// Start samples the groups (names to lists of cgroup v2 paths relative to
// the node's cgroup2 mount, as in clusters.Pod.Cgroup, each counting with
// its descendants) once, which fails for a group the node cannot account,
// and then every Every until Stop.
func (c Client) Start(ctx context.Context, groups map[string][]string) error {
	_, err := agent.Invoke(ctx, c.Caller, startMethod, startArgs{Groups: groups})
	return err
}

// Stop ends the sampling and returns what each group cost since Start.
func (c Client) Stop(ctx context.Context) (map[string]Cost, error) {
	return agent.Invoke(ctx, c.Caller, stopMethod, struct{}{})
}

// Cost is what a group of cgroups cost between Start and Stop; Stop
// returns one per group name.
type Cost struct {
	// PSSMeanBytes and PSSPeakBytes are the mean and the largest over the
	// samples of the summed proportional set size of the group's processes.
	PSSMeanBytes float64 `json:"pss_mean_bytes"`
	PSSPeakBytes float64 `json:"pss_peak_bytes"`
	// USSMeanBytes is the mean of their summed unique set size: private
	// pages only, what stopping them would free.
	USSMeanBytes float64 `json:"uss_mean_bytes"`
	// CgroupMemoryMeanBytes is the mean of the memory the kernel charged to
	// the group's cgroups (page cache and kernel memory included).
	CgroupMemoryMeanBytes float64 `json:"cgroup_memory_mean_bytes"`
	// CPUSeconds is the CPU time the group's cgroups used between start
	// and stop.
	CPUSeconds float64 `json:"cpu_seconds"`
	// Procs is the most processes one sample found.
	Procs int `json:"procs"`
}

// Run runs the role: it answers the Client's calls until stdin closes.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if _, err := parseOptions(args, stderr); err != nil {
		return err
	}
	cg, err := hostfs.DetectCgroups()
	if err != nil {
		return err
	}
	s := &session{cg: cg}
	defer s.halt()
	return agent.Serve(ctx, "", stdin, stdout,
		agent.Handle(startMethod, func(ctx context.Context, in startArgs) (struct{}, error) {
			return struct{}{}, s.start(ctx, in)
		}),
		agent.Handle(stopMethod, func(context.Context, struct{}) (map[string]Cost, error) { return s.stop() }),
	)
}

// session is one agent's sampling: at most one at a time.
type session struct {
	cg     hostfs.Cgroups
	groups map[string]*group
	// cancel ends the background sampling, which then sends its error on
	// done; nil when not sampling.
	cancel context.CancelFunc
	done   chan error
}

// start samples the groups once, so that a group the node cannot account
// fails here, and then every Every until stop; ctx bounds the sampling.
func (s *session) start(ctx context.Context, in startArgs) error {
	if s.cancel != nil {
		return errors.New("start sampling: already sampling")
	}
	groups := map[string]*group{}
	for name, cgroups := range in.Groups {
		g := &group{cpu: map[string]*counter{}}
		for _, rel := range cgroups {
			rel = strings.TrimPrefix(rel, "/")
			if !filepath.IsLocal(rel) {
				return fmt.Errorf("start sampling: group %s: cgroup %q is not a path under the cgroup2 mount", name, rel)
			}
			if _, err := os.Stat(s.cg.Dir(rel)); err != nil {
				return fmt.Errorf("start sampling: group %s: %w", name, err)
			}
			g.cgroups = append(g.cgroups, rel)
		}
		groups[name] = g
	}
	s.groups = groups
	if err := s.sample(); err != nil {
		return err
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan error, 1)
	go func() { s.done <- s.loop(ctx) }()
	return nil
}

func (s *session) loop(ctx context.Context) error {
	t := time.NewTicker(Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.sample(); err != nil {
				return err
			}
		}
	}
}

func (s *session) sample() error {
	for name, g := range s.groups {
		if err := g.sample(s.cg); err != nil {
			return fmt.Errorf("sample group %s: %w", name, err)
		}
	}
	return nil
}

// stop ends the sampling, reads the CPU counters a last time and returns
// each group's cost.
func (s *session) stop() (map[string]Cost, error) {
	if s.cancel == nil {
		return nil, errors.New("stop sampling: not sampling")
	}
	if err := s.halt(); err != nil {
		return nil, err
	}
	out := map[string]Cost{}
	for name, g := range s.groups {
		if err := g.readCPU(); err != nil {
			return nil, fmt.Errorf("sample group %s: %w", name, err)
		}
		out[name] = g.cost()
	}
	return out, nil
}

// halt ends the background sampling, if any, and returns its error.
func (s *session) halt() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	return <-s.done
}
