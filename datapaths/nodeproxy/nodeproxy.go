// Package nodeproxy is the per-node proxy datapath (Cilium's per-node Envoy,
// Istio ambient's ztunnel): one proxy in each node's namespace; netfilter in
// the node namespace redirects connections from the node's pods to service
// addresses into it. A node proxy reaches pods on other nodes through a tunnel to their node
// proxy (HTTP CONNECT naming the destination, as Istio's HBONE; mTLS between
// node proxies when enabled) and dials pods on its own node directly. With
// mTLS the node also resets plaintext to its pods' application ports that
// does not come from its proxy, so that mTLS is strict.
//
// With a waypoint (DatapathOptions.Waypoint, Istio ambient's L7 proxy per
// service) every server service gets a pod of its own, on the client's or
// the service's node (WaypointNode), running the proxy at l7 as a
// waypoint. The node proxies stay l4 and send a service's traffic to its
// waypoint through an mTLS tunnel naming the service's VIP; the waypoint
// balances each request over the endpoints and reaches each through an
// mTLS tunnel to the endpoint's node proxy, which dials the pod: client
// node proxy → waypoint → server node proxy → server pod.
package nodeproxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/internal/mesh"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/scenarios"
)

// Name is the datapath's name in scenarios.
const Name = "nodeproxy"

// Kind is the datapath for a registry: it runs proxies, which it cannot do
// without, and can add waypoints.
var Kind = datapaths.Kind{Datapath: scenarios.Datapath{Name: Name, Proxy: true, Waypoint: true, Enrol: scenarios.EnrolAttach}, New: New}

// New returns the datapath; it takes every option but proxy off, and a
// waypoint only with mTLS and node proxies at l4.
func New(opts scenarios.DatapathOptions) (datapaths.Datapath, error) {
	switch {
	case opts.Proxy == scenarios.ProxyOff:
		return nil, errors.New("datapath nodeproxy cannot run without its proxies: proxy off cannot apply")
	case opts.Waypoint && !opts.MTLS:
		return nil, errors.New("datapath nodeproxy reaches its waypoints over mTLS only: a waypoint needs mtls")
	case opts.Waypoint && opts.Mode == scenarios.ModeL7:
		return nil, errors.New("datapath nodeproxy with a waypoint keeps its node proxies at l4: mode l7 cannot apply")
	case opts.WaypointNode != "" && opts.WaypointNode != scenarios.WaypointClientNode && opts.WaypointNode != scenarios.WaypointServerNode:
		return nil, fmt.Errorf("datapath nodeproxy cannot place a waypoint on %q", opts.WaypointNode)
	}
	if opts.Waypoint && opts.WaypointNode == "" {
		opts.WaypointNode = scenarios.DefaultWaypointNode
	}
	return &nodeProxy{opts: opts}, nil
}

// Container is the node agent's container the node proxy runs in.
const Container = "nodeproxy"

// WaypointContainer is the waypoint pod's container the waypoint runs in:
// its pod's main one, as the waypoint is the pod's only process.
const WaypointContainer = clusters.AppContainer

type nodeProxy struct {
	opts scenarios.DatapathOptions
	// Mesh runs the proxies; its Uninstall, Components and PathCounters
	// are the datapath's.
	*mesh.Mesh
}

var (
	_ datapaths.Datapath = (*nodeProxy)(nil)
	_ datapaths.Counted  = (*nodeProxy)(nil)
	_ datapaths.Costed   = (*nodeProxy)(nil)
	_ datapaths.Injector = (*nodeProxy)(nil)
	_ datapaths.Sourced  = (*nodeProxy)(nil)
	_ datapaths.Reacher  = (*nodeProxy)(nil)
)

// Injection gives the node proxies a container of their own on every node
// and, with waypoints, every server service a waypoint service with one
// pod on the node WaypointNode names.
func (n *nodeProxy) Injection(spec clusters.Spec) clusters.Injection {
	inj := clusters.Injection{NodeContainers: []string{Container}}
	if !n.opts.Waypoint {
		return inj
	}
	for _, svc := range spec.Services {
		if svc.Role != "server" {
			continue
		}
		node := scenarios.ClientNode
		if n.opts.WaypointNode == scenarios.WaypointServerNode && len(svc.PodNodes) > 0 {
			node = svc.PodNodes[0]
		}
		inj.Services = append(inj.Services, clusters.ServiceSpec{
			Name: WaypointName(svc.Name), Role: mesh.WaypointRole,
			Port: mesh.TunnelPort, TargetPort: mesh.TunnelPort, PodNodes: []int{node},
		})
	}
	return inj
}

// Identity is the mTLS identity of a node's proxy.
func Identity(node string) string { return "node-" + node }

// WaypointName is the name of a service's waypoint service, which is also
// its waypoint's mTLS identity.
func WaypointName(service string) string { return "waypoint-" + service }

// Options returns the options of a node proxy: its listeners, and a tunnel
// peer for every other node, with the files of its identity. Exported for
// the ebpf datapath, which runs the same node proxies with other steering.
func Options(m *mesh.Mesh, node clusters.Node) (proxy.Options, map[string][]byte, error) {
	o := m.BaseOptions()
	o.Outbound = "0.0.0.0:" + strconv.Itoa(mesh.OutboundPort)
	o.Tunnel = "0.0.0.0:" + strconv.Itoa(mesh.TunnelPort)
	o.Peers = peers(m, func(n clusters.Node) bool { return n.Name != node.Name })
	files, err := m.TLS(Identity(node.Name), &o)
	if err != nil {
		return proxy.Options{}, nil, err
	}
	return o, files, nil
}

// peers are the node proxies of the nodes keep selects, as tunnel peers.
func peers(m *mesh.Mesh, keep func(clusters.Node) bool) []proxy.NodePeer {
	var out []proxy.NodePeer
	for _, peer := range m.Topo.Nodes {
		// A node without a pod range has none of the run's pods.
		if !keep(peer) || !peer.PodCIDR.IsValid() {
			continue
		}
		np := proxy.NodePeer{PodCIDR: peer.PodCIDR, Addr: netip.AddrPortFrom(peer.IP, mesh.TunnelPort)}
		if m.Opts.MTLS {
			np.Identity = Identity(peer.Name)
		}
		out = append(out, np)
	}
	return out
}

func (n *nodeProxy) Install(ctx context.Context, c clusters.Cluster) error {
	m, err := mesh.New(Name, n.opts, c)
	n.Mesh = m
	if err != nil {
		return err
	}
	topo := c.Topology()
	var waypoints []proxy.ServiceWaypoint
	var launches []mesh.Launch
	if n.opts.Waypoint {
		if waypoints, launches, err = n.waypoints(m); err != nil {
			return err
		}
	}
	for _, node := range topo.Nodes {
		opts, files, err := Options(m, node)
		if err != nil {
			return err
		}
		opts.Waypoints = waypoints
		launches = append(launches, mesh.Launch{
			Proxy:   mesh.Proxy{Node: node.Name, Container: Container},
			Options: opts,
			Files:   files,
			Steer: &steer.Table{
				Name:     mesh.TableName(Name, topo.RunID),
				SkipMark: proxy.DefaultMark,
				Rules: []steer.Rule{{
					Hook: steer.Prerouting, Src: node.PodCIDR, Dst: topo.ServiceCIDR, ToPort: mesh.OutboundPort,
				}},
				Rejects: m.Strict(node.Name),
			},
		})
	}
	return m.StartAll(ctx, launches)
}

// waypoints returns the node proxies' routes of every server service to
// its waypoint, and the waypoints to start: an l7 proxy in the waypoint
// pod, whose tunnel listener takes the service's VIP and which reaches
// every endpoint through its node's proxy, its own node's too. It sets no
// mark, which only the node's steering and strict rules look at: they do
// not match what it sends (to node proxies' tunnel ports), and a pod's
// process may not set one.
func (n *nodeProxy) waypoints(m *mesh.Mesh) ([]proxy.ServiceWaypoint, []mesh.Launch, error) {
	var routes []proxy.ServiceWaypoint
	var launches []mesh.Launch
	for _, svc := range m.Topo.Services {
		if svc.Role != "server" {
			continue
		}
		wp, ok := m.Topo.Service(WaypointName(svc.Name))
		if !ok || len(wp.Pods) != 1 {
			return nil, nil, fmt.Errorf("service %s has no waypoint pod: the cluster did not create the injected waypoint services", svc.Name)
		}
		pod, _ := m.Topo.Pod(wp.Pods[0])
		routes = append(routes, proxy.ServiceWaypoint{
			VIP:      netip.AddrPortFrom(svc.VIP, uint16(svc.Port)),
			Addr:     netip.AddrPortFrom(pod.IP, mesh.TunnelPort),
			Identity: wp.Name,
		})
		o := m.BaseOptions()
		o.Mode, o.Waypoint = proxy.L7, true
		o.Outbound, o.Inbound, o.Tunnel = "", "", "0.0.0.0:"+strconv.Itoa(mesh.TunnelPort)
		o.Mark, o.CountTable = 0, ""
		o.Peers = peers(m, func(clusters.Node) bool { return true })
		files, err := m.TLS(wp.Name, &o)
		if err != nil {
			return nil, nil, err
		}
		launches = append(launches, mesh.Launch{
			Proxy:   mesh.Proxy{Node: pod.Node, Pod: pod.Name, Container: WaypointContainer},
			Options: o,
			Files:   files,
		})
	}
	return routes, launches, nil
}

// Verify proves the node proxies intercepted every connection the load
// agents opened and, with waypoints, that the waypoints received every
// request they sent.
func (n *nodeProxy) Verify(ctx context.Context, t datapaths.Traffic) error {
	stats, err := n.Mesh.Stats(ctx)
	if err != nil {
		return err
	}
	nodes := func(p *mesh.Proxy) bool { return p.Pod == "" }
	out := mesh.Sum(stats, n.Mesh.Proxies, proxy.StatConnsOutbound, nodes)
	hits := mesh.Sum(stats, n.Mesh.Proxies, proxy.StatRedirectHits, nodes)
	if out != t.Connections || hits == 0 {
		return mesh.NotInPath("node proxies intercepted %d of the %d connections the load agents opened, redirect rules matched %d packets",
			out, t.Connections, hits)
	}
	if !n.opts.Waypoint {
		return nil
	}
	waypoints := func(p *mesh.Proxy) bool { return p.Pod != "" }
	return checkWaypoints(mesh.Sum(stats, n.Mesh.Proxies, proxy.StatRequests, waypoints), t)
}

// checkWaypoints wants the waypoints to have received every request the
// load agents sent: exactly as many, or fewer by at most the failed ones,
// which may have ended before reaching a waypoint. Fewer means requests
// went around the waypoints; more, that something sent requests the load
// agents did not.
func checkWaypoints(received uint64, t datapaths.Traffic) error {
	if received > t.Requests || received < t.Requests-min(t.Failed, t.Requests) {
		return mesh.NotInPath("waypoints received %d of the %d requests the load agents sent (%d of them failed)",
			received, t.Requests, t.Failed)
	}
	return nil
}

// Reach says what the datapath's hooks reach.
func (n *nodeProxy) Reach() string {
	return "steering at the node's prerouting hook for connections from its pod range: pods of every label pass it, but a node process's connections leave through the output hook and are not steered"
}
