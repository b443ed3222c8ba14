package kube

import (
	"context"
	"fmt"
	"strconv"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
)

// StartHost runs spec on spec.Target.Node as a process started on the node
// outside Kubernetes runs: in the node's network namespace, but not in a
// pod's cgroup. The node agent's host role (kubenode.HostRole) creates it
// in the cgroup v2 <run's host cgroup>/host-<n>, where the run's host
// cgroup is kubenode.HostCgroup: meshbench-<run id> beside the kubelet's
// pod cgroup root (kubepods). The process ends as Start's do, and with the
// node agent; the node agent removes the cgroups as it ends.
func (c *Cluster) StartHost(ctx context.Context, spec clusters.ProcSpec) (clusters.Process, error) {
	n, ok := c.topo.Node(spec.Target.Node)
	switch {
	case spec.Target.Node == "" || spec.Target.Pod != "":
		return nil, fmt.Errorf("start %s: a host process needs a node and no pod as its target", spec.Name)
	case !ok:
		return nil, fmt.Errorf("start %s: no node %q", spec.Name, spec.Target.Node)
	case n.PodCgroupRoot == "":
		return nil, fmt.Errorf("start %s: node %s's pods have no cgroup v2 directory (a kubelet on cgroup v1 only), so no cgroup v2 outside them can be told apart: host processes need cgroup v2", spec.Name, n.Name)
	}
	c.mu.Lock()
	name := "host-" + strconv.Itoa(c.hosts)
	c.hosts++
	c.mu.Unlock()
	spec.Args = kubenode.HostOptions{RunID: c.topo.RunID, Name: name, Command: spec.Args}.Args()
	spec.Container = NodeAgentContainer
	return c.Start(ctx, spec)
}
