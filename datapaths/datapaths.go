// Package datapaths defines what a service-mesh datapath is to the runner,
// and the Registry type that lists the datapaths a binary can install (the
// built-in list is package builtin's; nothing registers itself).
//
// Lifecycle per case: New → Install (after the cluster is up, before the
// workloads start) → Verify (after warm-up: proof that the traffic really went
// through the datapath) → Uninstall (always, also after failures).
package datapaths

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/scenarios"
)

// ErrNotInPath is wrapped by Verify when traffic bypassed the datapath.
var ErrNotInPath = errors.New("datapath not in path")

// ErrUnsupported is wrapped when this machine lacks what a datapath needs;
// the message names the missing feature.
var ErrUnsupported = errors.New("datapath unsupported on this machine")

// Traffic is what the load agents sent since they started, for Verify to
// prove that all of it went through the datapath.
type Traffic struct {
	// Connections is how many TCP connections the load agents opened.
	Connections uint64
	// Requests is how many requests they sent (HTTP requests, gRPC calls
	// or TCP exchanges), Failed how many of those got an error instead
	// of an answer: these may have ended anywhere on the path.
	Requests, Failed uint64
}

// Datapath is one installed datapath.
type Datapath interface {
	// Install sets the datapath up in the cluster.
	Install(ctx context.Context, c clusters.Cluster) error
	// Verify returns an error wrapping ErrNotInPath unless all the traffic
	// sent since Install went through the datapath: its own counts (proxy
	// accepts, connect-hook hits) must match t, what the load agents sent.
	Verify(ctx context.Context, t Traffic) error
	// Uninstall removes what Install created; it is safe after a failed or
	// partial Install.
	Uninstall(ctx context.Context) error
}

// Factory builds a datapath for one case. It returns an error for options
// the datapath cannot apply: those scenarios.Validate rejects for its Kind.
type Factory func(opts scenarios.DatapathOptions) (Datapath, error)

// Kind is a datapath a binary can install: its name and properties, which
// scenarios validate against, and its factory.
type Kind struct {
	scenarios.Datapath
	New Factory
}

// Registry lists the datapaths a binary can install, in the order they are
// listed to users; the first is the default of a scenario that names none.
type Registry []Kind

// Names lists the datapaths' names in order.
func (r Registry) Names() []string { return r.Scenarios().Names() }

// Scenarios describes the datapaths for validating scenarios.
func (r Registry) Scenarios() scenarios.Datapaths {
	out := make(scenarios.Datapaths, len(r))
	for i, k := range r {
		out[i] = k.Datapath
	}
	return out
}

// Lookup returns the datapath named name.
func (r Registry) Lookup(name string) (Kind, bool) {
	i := slices.IndexFunc(r, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return r[i], true
}

// New returns the named datapath.
func (r Registry) New(name string, opts scenarios.DatapathOptions) (Datapath, error) {
	k, ok := r.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown datapath %q (known: %v)", name, r.Names())
	}
	return k.New(opts)
}

// Component is one group of the datapath's own processes on a node, for
// per-node cost accounting and to name its events in packet-path traces.
type Component struct {
	// Name says what the processes are, the same for every node or pod:
	// their container's name ("sidecar", "nodeproxy").
	Name string
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
	// Connections counts the application connections the datapath took
	// in hand: connect4 steered or balanced them (ebpf), or a proxy
	// accepted them on its outbound listener.
	Connections uint64
}

// Counted is implemented by datapaths with kernel counters of their own.
type Counted interface {
	PathCounters(ctx context.Context) (PathCounters, error)
}

// Encryption is how a datapath encrypts traffic between nodes below its
// proxies, for results to record next to the figures.
type Encryption struct {
	// Name is the scenario's encryption option ("wireguard").
	Name string
	// Implementation says which code encrypts ("kernel", "userspace"),
	// since the two cost very different CPU; known after Install.
	Implementation string
}

// Encrypted is implemented by datapaths that encrypt traffic between nodes.
type Encrypted interface {
	Encryption() Encryption
}

// SourceCounts are what a datapath's own counters saw from one source
// address since Install: its coverage of that source.
type SourceCounts struct {
	// Connections counts the source's connections the datapath took in
	// hand (a proxy accepted them from the application).
	Connections uint64
	// Requests counts the source's requests the datapath parsed; zero
	// where it sees byte streams only (l4).
	Requests uint64
	// Bytes counts the bytes from the source the datapath forwarded.
	Bytes uint64
	// MTLS counts what of it went on over mTLS: requests where Requests
	// counts, else connections.
	MTLS uint64
}

// ErrNoSourceCounters is returned by Sources of a datapath that, as
// configured, has no per-source counters; the message says why.
var ErrNoSourceCounters = errors.New("datapath has no per-source counters")

// Sourced is implemented by datapaths that count what they intercept per
// source address. Sources returns an error wrapping ErrNoSourceCounters
// when the datapath's options leave it without such counters.
type Sourced interface {
	Sources(ctx context.Context) (map[netip.Addr]SourceCounts, error)
}

// BPFSourced is implemented by datapaths whose BPF maps count the
// connections their programs steered per source address, beside what
// their proxies count (Sourced); it returns an error wrapping
// ErrNoSourceCounters when the options load no such map.
type BPFSourced interface {
	BPFSources(ctx context.Context) (map[netip.Addr]uint64, error)
}

// Reacher is implemented by datapaths that can say which traffic sources
// their hooks reach, so that results explain a source they missed.
type Reacher interface {
	// Reach is one sentence, e.g. "redirect rules in each injected pod's
	// namespace: pods the injector skipped and node processes bypass them".
	Reach() string
}

// PodJoiner is implemented by datapaths whose pods join them one at a
// time, each with the containers the injector adds at the pod's start (a
// sidecar): enrolling one into a running cluster replaces every pod
// (clusters.Roller). Prepare stands in for Install; Uninstall removes
// what the pods that joined have.
type PodJoiner interface {
	// Prepare readies the datapath for pods to join, starting nothing in
	// any pod.
	Prepare(ctx context.Context, c clusters.Cluster) error
	// Join starts the datapath's processes in pod, whose init containers
	// ran.
	Join(ctx context.Context, pod clusters.Pod) error
	// Leave stops them in pod, before it is deleted.
	Leave(ctx context.Context, pod string) error
}
