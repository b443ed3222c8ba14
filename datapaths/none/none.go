// Package none is the datapath without a mesh: pods talk through their veths,
// the node's routes and the service DNAT only. It is every comparison's floor.
package none

import (
	"context"
	"errors"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/scenarios"
)

// Name is the datapath's name in scenarios.
const Name = "none"

// Kind is the datapath for a registry: it runs no proxy.
var Kind = datapaths.Kind{Datapath: scenarios.Datapath{Name: Name, Enrol: scenarios.EnrolNothing}, New: New}

// New returns the datapath. Having no proxy, it takes neither mode l7, nor
// mtls, nor proxy off, nor a waypoint.
func New(opts scenarios.DatapathOptions) (datapaths.Datapath, error) {
	if opts.Mode == scenarios.ModeL7 || opts.MTLS || opts.Proxy == scenarios.ProxyOff || opts.Waypoint {
		return nil, errors.New("datapath none has no proxy: mode l7, mtls, proxy off and a waypoint cannot apply")
	}
	return none{}, nil
}

type none struct{}

var _ datapaths.Datapath = none{}

func (none) Install(context.Context, clusters.Cluster) error { return nil }

// Verify has nothing of its own to prove: the runner already checks that the
// servers answered every request the load agent counted.
func (none) Verify(context.Context, datapaths.Traffic) error { return nil }

func (none) Uninstall(context.Context) error { return nil }
