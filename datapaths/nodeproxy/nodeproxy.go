// Package nodeproxy is the per-node proxy datapath (Cilium's per-node Envoy,
// Istio ambient's ztunnel): one proxy in each node's namespace; netfilter in
// the node namespace redirects connections from the node's pods to service
// addresses into it. A node proxy reaches pods on other nodes through a tunnel to their node
// proxy (HTTP CONNECT naming the destination, as Istio's HBONE; mTLS between
// node proxies when enabled) and dials pods on its own node directly. With
// mTLS the node also resets plaintext to its pods' application ports that
// does not come from its proxy, so that mTLS is strict.
package nodeproxy

import (
	"context"
	"errors"
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
// without.
var Kind = datapaths.Kind{Datapath: scenarios.Datapath{Name: Name, Proxy: true}, New: New}

// New returns the datapath; it takes every option but proxy off.
func New(opts scenarios.DatapathOptions) (datapaths.Datapath, error) {
	if opts.Proxy == scenarios.ProxyOff {
		return nil, errors.New("datapath nodeproxy cannot run without its proxies: proxy off cannot apply")
	}
	return &nodeProxy{opts: opts}, nil
}

// Container is the node agent's container the node proxy runs in.
const Container = "nodeproxy"

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

// Injection gives the node proxies a container of their own on every node.
func (n *nodeProxy) Injection(clusters.Spec) clusters.Injection {
	return clusters.Injection{NodeContainers: []string{Container}}
}

// Identity is the mTLS identity of a node's proxy.
func Identity(node string) string { return "node-" + node }

// Options returns the options of a node proxy: its listeners, and a tunnel
// peer for every other node, with the files of its identity. Exported for
// the ebpf datapath, which runs the same node proxies with other steering.
func Options(m *mesh.Mesh, node clusters.Node) (proxy.Options, map[string][]byte, error) {
	o := m.BaseOptions()
	o.Outbound = "0.0.0.0:" + strconv.Itoa(mesh.OutboundPort)
	o.Tunnel = "0.0.0.0:" + strconv.Itoa(mesh.TunnelPort)
	for _, peer := range m.Topo.Nodes {
		// A node without a pod range has none of the run's pods.
		if peer.Name == node.Name || !peer.PodCIDR.IsValid() {
			continue
		}
		np := proxy.NodePeer{PodCIDR: peer.PodCIDR, Addr: netip.AddrPortFrom(peer.IP, mesh.TunnelPort)}
		if m.Opts.MTLS {
			np.Identity = Identity(peer.Name)
		}
		o.Peers = append(o.Peers, np)
	}
	files, err := m.TLS(Identity(node.Name), &o)
	if err != nil {
		return proxy.Options{}, nil, err
	}
	return o, files, nil
}

func (n *nodeProxy) Install(ctx context.Context, c clusters.Cluster) error {
	m, err := mesh.New(Name, n.opts, c)
	n.Mesh = m
	if err != nil {
		return err
	}
	topo := c.Topology()
	var launches []mesh.Launch
	for _, node := range topo.Nodes {
		opts, files, err := Options(m, node)
		if err != nil {
			return err
		}
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

// Verify proves the node proxies intercepted every connection the load
// agents opened.
func (n *nodeProxy) Verify(ctx context.Context, t datapaths.Traffic) error {
	stats, err := n.Mesh.Stats(ctx)
	if err != nil {
		return err
	}
	out := mesh.Sum(stats, n.Mesh.Proxies, proxy.StatConnsOutbound, nil)
	hits := mesh.Sum(stats, n.Mesh.Proxies, proxy.StatRedirectHits, nil)
	if out != t.Connections || hits == 0 {
		return mesh.NotInPath("node proxies intercepted %d of the %d connections the load agents opened, redirect rules matched %d packets",
			out, t.Connections, hits)
	}
	return nil
}

// Reach says what the datapath's hooks reach.
func (n *nodeProxy) Reach() string {
	return "steering at the node's prerouting hook for connections from its pod range: pods of every label pass it, but a node process's connections leave through the output hook and are not steered"
}
