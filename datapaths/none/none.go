// Package none is the datapath without a mesh: pods talk through their veths,
// the node's routes and the service DNAT only. It is every comparison's floor.
package none

import (
	"context"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/scenarios"
)

func init() {
	datapaths.Register(scenarios.None, func(scenarios.DatapathOptions) (datapaths.Datapath, error) {
		return none{}, nil
	})
}

type none struct{}

var _ datapaths.Datapath = none{}

func (none) Install(context.Context, clusters.Cluster) error { return nil }

// Verify has nothing of its own to prove: the runner already checks that the
// servers answered every request the load agent counted.
func (none) Verify(context.Context) error { return nil }

func (none) Uninstall(context.Context) error { return nil }
