// Package sidecar is the Istio/Linkerd datapath: a proxy in every pod, with
// netfilter REDIRECT rules in the pod's namespace sending the application's
// outbound connections to the proxy's outbound port and inbound connections
// for the application port to its inbound port. As in Istio, an init
// container installs the rules and the proxy has a container of its own. The proxy's own connections
// carry a mark the rules skip. With mTLS, client sidecars reach server
// sidecars through an mTLS tunnel on the tunnel port instead.
package sidecar

import (
	"context"
	"errors"
	"strconv"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/internal/mesh"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/scenarios"
)

// Name is the datapath's name in scenarios.
const Name = "sidecar"

// Kind is the datapath for a registry: it runs proxies, which it cannot do
// without.
var Kind = datapaths.Kind{Datapath: scenarios.Datapath{Name: Name, Proxy: true, Enrol: scenarios.EnrolRestart}, New: New}

// New returns the datapath; it takes every option but proxy off and a
// waypoint (its sidecars are L7 proxies already).
func New(opts scenarios.DatapathOptions) (datapaths.Datapath, error) {
	if opts.Proxy == scenarios.ProxyOff {
		return nil, errors.New("datapath sidecar cannot run without its proxies: proxy off cannot apply")
	}
	if opts.Waypoint {
		return nil, errors.New("datapath sidecar has no node proxies to send traffic through a waypoint: a waypoint cannot apply")
	}
	return &sidecar{opts: opts}, nil
}

// Container is the pod container the sidecar proxy runs in, so that its
// cost is measured apart from the application's; InitContainer installs
// the redirect rules before the pod's containers start (istio-init).
const (
	Container     = "sidecar"
	InitContainer = "mesh-init"
)

type sidecar struct {
	opts scenarios.DatapathOptions
	// Mesh runs the proxies; its Components and PathCounters
	// are the datapath's.
	*mesh.Mesh
}

var (
	_ datapaths.Datapath  = (*sidecar)(nil)
	_ datapaths.Counted   = (*sidecar)(nil)
	_ datapaths.Costed    = (*sidecar)(nil)
	_ datapaths.Injector  = (*sidecar)(nil)
	_ datapaths.Sourced   = (*sidecar)(nil)
	_ datapaths.Reacher   = (*sidecar)(nil)
	_ datapaths.PodJoiner = (*sidecar)(nil)
)

// Injection adds to every pod the init container that installs the
// redirect table in the pod's namespace and the sidecar's container.
func (s *sidecar) Injection(spec clusters.Spec) clusters.Injection {
	table := steer.Table{
		Name:     mesh.TableName(Name, spec.RunID),
		SkipMark: proxy.DefaultMark,
		Rules:    []steer.Rule{{Hook: steer.Output, ToPort: mesh.OutboundPort}},
	}
	ports := map[int]bool{}
	for _, svc := range spec.Services {
		if !ports[svc.TargetPort] {
			ports[svc.TargetPort] = true
			table.Rules = append(table.Rules, steer.Rule{Hook: steer.Prerouting, DstPort: uint16(svc.TargetPort), ToPort: mesh.InboundPort})
		}
	}
	return clusters.Injection{PodContainers: []clusters.Container{
		{Name: InitContainer, Init: true, NetAdmin: true, Args: steer.Options{Table: table}.Args()},
		// NET_ADMIN only to read its redirect table's counters.
		{Name: Container, NetAdmin: true},
	}}
}

func (s *sidecar) Install(ctx context.Context, c clusters.Cluster) error {
	m, err := mesh.New(Name, s.opts, c)
	s.Mesh = m
	if err != nil {
		return err
	}
	var launches []mesh.Launch
	for _, pod := range c.Topology().Pods {
		if !c.Topology().Injected(pod) {
			// The injector skipped the pod: it has no sidecar.
			continue
		}
		l, err := s.launch(pod)
		if err != nil {
			return err
		}
		launches = append(launches, l)
	}
	return m.StartAll(ctx, launches)
}

// launch is the sidecar of pod.
func (s *sidecar) launch(pod clusters.Pod) (mesh.Launch, error) {
	opts := s.Mesh.BaseOptions()
	opts.Outbound = "0.0.0.0:" + strconv.Itoa(mesh.OutboundPort)
	opts.Inbound = "0.0.0.0:" + strconv.Itoa(mesh.InboundPort)
	var files map[string][]byte
	if s.opts.MTLS {
		opts.Tunnel = "0.0.0.0:" + strconv.Itoa(mesh.TunnelPort)
		opts.PeerPort = mesh.TunnelPort
		var err error
		if files, err = s.Mesh.TLS(pod.Service, &opts); err != nil {
			return mesh.Launch{}, err
		}
	}
	return mesh.Launch{
		Proxy:   mesh.Proxy{Node: pod.Node, Pod: pod.Name, Container: Container},
		Options: opts,
		Files:   files,
	}, nil
}

// Prepare readies the mesh for pods to join one by one while the pods of
// the servers are replaced under the clients: the sidecars pass each
// connection on to its service's VIP (mesh.Passthrough) for the node's
// service rules to balance over whichever pods are its endpoints then.
func (s *sidecar) Prepare(_ context.Context, c clusters.Cluster) error {
	m, err := mesh.New(Name, s.opts, c)
	s.Mesh = m
	if err != nil {
		return err
	}
	return m.Passthrough()
}

// Join starts the sidecar of a pod the injector reached.
func (s *sidecar) Join(ctx context.Context, pod clusters.Pod) error {
	l, err := s.launch(pod)
	if err != nil {
		return err
	}
	return s.Mesh.StartAll(ctx, []mesh.Launch{l})
}

// Leave stops the sidecar of a pod about to be deleted.
func (s *sidecar) Leave(_ context.Context, pod string) error {
	s.Mesh.Leave(pod)
	return nil
}

// Uninstall stops the proxies and, in a cluster that can outlive the case
// (clusters.Reusable), removes the redirect tables the init containers
// installed, which a deleted cluster takes with its pods.
func (s *sidecar) Uninstall(ctx context.Context) error {
	if s.Mesh == nil {
		return nil
	}
	errs := []error{s.Mesh.Uninstall(ctx)}
	if _, ok := s.Mesh.Cluster.(clusters.Reusable); ok {
		table := steer.Table{Name: mesh.TableName(Name, s.Mesh.Topo.RunID)}
		for _, pod := range s.Mesh.Topo.Pods {
			if !s.Mesh.Topo.Injected(pod) {
				continue // no init container ran in it: no table to remove
			}
			errs = append(errs, agentctl.Run(ctx, s.Mesh.Cluster, clusters.ProcSpec{
				Target: clusters.Target{Pod: pod.Name}, Container: Container,
				Name: "redirect table removal in pod " + pod.Name,
				Args: steer.Options{Table: table, Remove: true}.Args(),
			}))
		}
	}
	return errors.Join(errs...)
}

// Verify proves that the client sidecars intercepted every connection the
// load agents opened, and that the server sidecars received every
// connection the client sidecars opened to them: a rule that lets some
// connections around either side shows as a shortfall.
func (s *sidecar) Verify(ctx context.Context, t datapaths.Traffic) error {
	stats, err := s.Mesh.Stats(ctx)
	if err != nil {
		return err
	}
	role := func(r string) func(*mesh.Proxy) bool {
		return func(p *mesh.Proxy) bool {
			pod, _ := s.Mesh.Topo.Pod(p.Pod)
			svc, _ := s.Mesh.Topo.Service(pod.Service)
			return svc.Role == r
		}
	}
	out := mesh.Sum(stats, s.Mesh.Proxies, proxy.StatConnsOutbound, role("client"))
	up := mesh.Sum(stats, s.Mesh.Proxies, proxy.StatUpstreamConns, role("client"))
	in := mesh.Sum(stats, s.Mesh.Proxies, proxy.StatConnsInbound, role("server")) +
		mesh.Sum(stats, s.Mesh.Proxies, proxy.StatTunnels, role("server"))
	if out != t.Connections || in != up || in == 0 {
		return mesh.NotInPath("client sidecars intercepted %d of the %d connections the load agents opened; server sidecars received %d of the %d the client sidecars opened",
			out, t.Connections, in, up)
	}
	return nil
}

// Reach says what the datapath's hooks reach.
func (s *sidecar) Reach() string {
	return "redirect rules and a proxy in each pod the injector reached: pods it skipped and processes on the node have neither"
}
