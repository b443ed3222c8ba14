package kind

import (
	"context"
	"fmt"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube"
)

// StartHost runs spec on its node outside every pod's cgroup, as the kube
// provider's clusters do (kube.Cluster.StartHost): in the kind node's
// network namespace and a cgroup of its own beside the kubelet's pod
// cgroup root.
func (c *Cluster) StartHost(ctx context.Context, spec clusters.ProcSpec) (clusters.Process, error) {
	kc, ok := c.Cluster.(*kube.Cluster)
	if !ok {
		return nil, fmt.Errorf("start %s: kind cluster %s holds no kube cluster", spec.Name, c.name)
	}
	return kc.StartHost(ctx, spec)
}
