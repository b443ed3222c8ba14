package kube

import (
	"context"
	"fmt"
	"io"
	"sync"

	"k8s.io/client-go/kubernetes"

	"github.com/meshbench/meshbench/clusters"
)

// Cluster is a live cluster: a namespace of a Kubernetes cluster.
type Cluster struct {
	client kubernetes.Interface
	exec   execFunc
	topo   *clusters.Topology
	// ctx carries the processes' exec streams; Delete cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	procs   []*process
	deleted bool
}

// Topology returns the cluster's names and addresses. Network namespace
// and cgroup paths stay empty (they are on the nodes, not on this host),
// and so does ServiceCIDR, which the Kubernetes API does not expose.
func (c *Cluster) Topology() *clusters.Topology { return c.topo }

// Start runs `meshbench` with spec.Args in the agent container of the
// target pod, through the pods/exec subresource, with stdin and stdout as
// its control pipes. Targets on nodes are not supported: they need a node
// agent the provider does not deploy. spec.Cgroup is ignored: the process
// shares its container's cgroup. The process ends when its stdin closes
// (Stop) and with Delete; ctx bounds only the start.
func (c *Cluster) Start(ctx context.Context, spec clusters.ProcSpec) (clusters.Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	tg := spec.Target
	switch {
	case tg.Node != "":
		return nil, fmt.Errorf("start %s on node %s: the kube provider runs processes in pods only", spec.Name, tg.Node)
	case tg.Pod == "":
		return nil, fmt.Errorf("start %s: the target names no pod", spec.Name)
	}
	if _, ok := c.topo.Pod(tg.Pod); !ok {
		return nil, fmt.Errorf("start %s: no pod %q", spec.Name, tg.Pod)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deleted {
		return nil, fmt.Errorf("start %s: cluster %s is deleted", spec.Name, c.topo.Name)
	}
	p := newProcess(c.ctx, spec.Name)
	var stderr io.Writer = &p.tail
	if spec.Stderr != nil {
		stderr = io.MultiWriter(&p.tail, spec.Stderr)
	}
	command := append([]string{BinaryPath}, spec.Args...)
	go p.run(c.exec, c.topo.Name, tg.Pod, command, stderr)
	c.procs = append(c.procs, p)
	return p, nil
}

// Delete ends the processes' exec streams, deletes the run's namespace
// with everything in it, and waits until it is gone. It is idempotent.
func (c *Cluster) Delete(ctx context.Context) error {
	c.mu.Lock()
	c.deleted = true
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()

	c.cancel()
	for _, p := range procs {
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("delete cluster %s: wait for %s: %w", c.topo.Name, p.desc, ctx.Err())
		}
	}
	if err := deleteNamespaces(ctx, c.client, []string{c.topo.Name}); err != nil {
		return fmt.Errorf("delete cluster %s: %w", c.topo.Name, err)
	}
	return nil
}
