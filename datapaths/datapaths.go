// Package datapaths defines what a service-mesh datapath is to the runner and
// keeps the registry of the built-in ones (none, sidecar, nodeproxy, ebpf).
//
// Lifecycle per case: New → Install (after the cluster is up, before the
// workloads start) → Verify (after warm-up: proof that the traffic really went
// through the datapath) → Uninstall (always, also after failures).
package datapaths

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/scenarios"
)

// ErrNotInPath is wrapped by Verify when traffic bypassed the datapath.
var ErrNotInPath = errors.New("datapath not in path")

// ErrUnsupported is wrapped when this machine lacks what a datapath needs;
// the message names the missing feature.
var ErrUnsupported = errors.New("datapath unsupported on this machine")

// Datapath is one installed datapath.
type Datapath interface {
	// Install sets the datapath up in the cluster.
	Install(ctx context.Context, c clusters.Cluster) error
	// Verify returns an error wrapping ErrNotInPath unless the traffic sent
	// since Install went through the datapath.
	Verify(ctx context.Context) error
	// Uninstall removes what Install created; it is safe after a failed or
	// partial Install.
	Uninstall(ctx context.Context) error
}

// Factory builds a datapath for one case.
type Factory func(opts scenarios.DatapathOptions) (Datapath, error)

var registry = map[string]Factory{}

// Register makes a datapath available by name; datapath packages call it
// from init.
func Register(name string, f Factory) {
	if _, dup := registry[name]; dup {
		panic("datapaths: duplicate " + name)
	}
	registry[name] = f
}

// New returns the named datapath.
func New(name string, opts scenarios.DatapathOptions) (Datapath, error) {
	f, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown datapath %q (known: %v)", name, Names())
	}
	return f(opts)
}

// Names lists the registered datapaths.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Component is one group of the datapath's own processes on a node, for
// per-node cost accounting.
type Component struct {
	Node string
	// Cgroup holds the processes (v2 path relative to the cgroup2 mount).
	Cgroup string
}

// Injector is implemented by datapaths that add containers to the cluster
// before its pods start (the sidecar's init and proxy containers, the node
// proxy's container); the runner asks before it creates the cluster.
type Injector interface {
	Injection(spec clusters.Spec) clusters.Injection
}

// Costed is implemented by datapaths that run processes of their own.
type Costed interface {
	Components() []Component
}

// BPFCosted is implemented by datapaths that load BPF maps and programs;
// their memory is charged to the kernel, not to any cgroup.
type BPFCosted interface {
	// BPFMemoryBytes returns, per node name, what the datapath's BPF maps
	// and programs on that node cost (the kernel's memlock figures).
	BPFMemoryBytes(ctx context.Context) (map[string]uint64, error)
}

// StateRoot holds the files datapaths write for their processes
// (certificates, service tables), one directory per run; `meshbench cleanup`
// removes what a killed run left there.
const StateRoot = "/run/meshbench"

// StatePath is a datapath's state directory for a run: where its agents
// write the files they are handed (agent.FilesOnStdin), on the netns provider
// the runner's own file system.
func StatePath(runID, datapath string) string { return filepath.Join(StateRoot, runID, datapath) }

// RemoveState removes a run's state directory.
func RemoveState(runID string) error {
	if err := os.RemoveAll(filepath.Join(StateRoot, runID)); err != nil {
		return fmt.Errorf("remove state directory: %w", err)
	}
	return nil
}

// PathCounters are a datapath's own kernel counters that the packet-path
// probe reports per request.
type PathCounters struct {
	// NetfilterHits counts packets its netfilter rules matched.
	NetfilterHits uint64
	// Redirects counts eBPF redirects (sockmap messages, peer redirects).
	Redirects uint64
}

// Counted is implemented by datapaths with kernel counters of their own.
type Counted interface {
	PathCounters(ctx context.Context) (PathCounters, error)
}
