package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/meshbench/meshbench/clusters"
)

// teardownTimeout bounds the teardown after a failed or cancelled Create.
const teardownTimeout = 30 * time.Second

// Options configure the provider.
type Options struct {
	// Executable is the meshbench binary that Start runs; empty means
	// clusters.AgentExecutable.
	Executable string
	// StateRoot holds the runner's state directories, one per cluster and
	// named by its id, on the host the clusters share with the runner
	// (datapaths.StateRoot); Cleanup removes those of the runs it cleans
	// up. Empty means there are none.
	StateRoot string
}

// Provider creates kind-shaped clusters of network namespaces on this host
// and removes what runs left of them.
type Provider struct {
	opts Options
}

var (
	_ clusters.Provider = (*Provider)(nil)
	_ clusters.Cluster  = (*Cluster)(nil)
)

// New returns a provider.
func New(opts Options) *Provider { return &Provider{opts: opts} }

// Create builds the cluster for spec. On any error, including ctx being
// cancelled, it removes what it created before returning. It returns
// clusters.ErrNotRoot without root.
func (p *Provider) Create(ctx context.Context, spec clusters.Spec) (clusters.Cluster, error) {
	if os.Geteuid() != 0 {
		return nil, clusters.ErrNotRoot
	}
	topo, err := plan(spec)
	if err != nil {
		return nil, err
	}
	exe := p.opts.Executable
	if exe == "" {
		if exe, _, err = clusters.AgentExecutable(); err != nil {
			return nil, fmt.Errorf("create cluster: %w", err)
		}
	}
	cg, err := detectCgroups()
	if err != nil {
		return nil, fmt.Errorf("create cluster: %w", err)
	}
	// A collision would make the teardown below remove another run's
	// namespaces, so refuse before creating anything.
	left, err := Leftovers(spec.RunID)
	if err != nil {
		return nil, fmt.Errorf("create cluster: %w", err)
	}
	if !left.Empty() {
		return nil, fmt.Errorf("create cluster: run id %s is in use (%d namespaces, %d cgroups): pick another or run `meshbench cleanup --run %s`",
			spec.RunID, len(left.Namespaces), len(left.Cgroups), spec.RunID)
	}

	c := &Cluster{topo: topo, cg: cg, exe: exe, netAdmin: map[string]bool{}, inject: spec.Inject.PodContainers, nextPod: len(topo.Pods)}
	for _, ct := range spec.Inject.PodContainers {
		c.netAdmin[ct.Name] = ct.NetAdmin
	}
	err = build(ctx, topo, cg)
	if err == nil {
		// What Residue must not count as left by a case.
		c.builtTables, err = c.tables()
	}
	if err == nil {
		c.spawner = newSpawner(cg)
		err = c.runInitContainers(ctx, spec.Inject.PodContainers)
	}
	if err != nil {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
		defer cancel()
		if derr := c.Delete(tctx); derr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", derr))
		}
		return nil, fmt.Errorf("create cluster %s: %w", topo.Name, err)
	}
	return c, nil
}

// runInitContainers runs the injected init containers in every pod the
// injector reaches (clusters.Topology.Injected), each
// to completion in the pod's child cgroup named after it, as the kubelet
// runs init containers before a pod's other containers.
func (c *Cluster) runInitContainers(ctx context.Context, containers []clusters.Container) error {
	return c.runInits(ctx, containers, c.topo.Pods)
}

// runInits runs the init containers in those of pods the injector reaches.
func (c *Cluster) runInits(ctx context.Context, containers []clusters.Container, pods []clusters.Pod) error {
	for _, ct := range containers {
		if !ct.Init {
			continue
		}
		for _, pod := range pods {
			if !c.topo.Injected(pod) {
				continue
			}
			p, err := c.Start(ctx, clusters.ProcSpec{
				Target: clusters.Target{Pod: pod.Name}, Container: ct.Name, Args: ct.Args,
				Name: "init container " + ct.Name + " of pod " + pod.Name,
			})
			if err != nil {
				return err
			}
			if err := p.Wait(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Cluster is a live cluster of network namespaces.
type Cluster struct {
	topo *clusters.Topology
	cg   *runCgroups
	exe  string
	// netAdmin names the injected pod containers with NetAdmin; inject
	// are those containers, which pods added later get too.
	netAdmin map[string]bool
	inject   []clusters.Container
	// nextPod numbers the next pod's namespace and veth (AddPod).
	nextPod int
	// builtTables are the nftables tables the cluster was built with
	// (tables' form), before any init container ran.
	builtTables []string

	mu      sync.Mutex
	spawner *spawner // nil until built, and after Delete
	procs   []*process
	deleted bool
}

// Topology returns the cluster's names and addresses.
func (c *Cluster) Topology() *clusters.Topology { return c.topo }

// Delete kills every process in the run's cgroups and namespaces, deletes
// the namespaces (and with them links, routes and nftables rules) and
// removes the cgroups. It is idempotent.
func (c *Cluster) Delete(ctx context.Context) error {
	c.mu.Lock()
	c.deleted = true
	procs, sp := c.procs, c.spawner
	c.procs, c.spawner = nil, nil
	c.mu.Unlock()

	_, err := cleanupCluster(ctx, c.topo.RunID)
	// Reap the processes Start made so that none stays a zombie.
	for _, p := range procs {
		select {
		case <-p.done:
			p.stdout.f.Close()
		case <-ctx.Done():
			return errors.Join(err, fmt.Errorf("wait for %s: %w", p.desc, ctx.Err()))
		}
	}
	if sp != nil {
		sp.stop()
	}
	if err != nil {
		return fmt.Errorf("delete cluster %s: %w", c.topo.Name, err)
	}
	return nil
}
