// Package mesh is what the proxy-based datapaths (sidecar, nodeproxy, ebpf)
// share on every provider: the service table and identities their proxies
// load, starting and watching the proxies, the netfilter tables they
// install, and teardown. A datapath says where proxies run and how traffic
// is steered; Mesh keeps track of everything so Uninstall can remove it.
//
// Everything runs through clusters.Cluster.Start, in the pods' and nodes'
// containers: the proxies get their files on stdin (agent.FilesOnStdin) and
// the steering tables are installed by the steer role, so the runner never
// touches a node itself.
package mesh

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/scenarios"
)

// Ports every proxy uses (Istio's).
const (
	OutboundPort = 15001
	InboundPort  = 15006
	TunnelPort   = proxy.DefaultTunnelPort
)

// netAdmin is the one capability the proxies and steering on nodes need.
var netAdmin = []clusters.Capability{clusters.CapNetAdmin}

// identityValidity covers any run; expired identities are refused.
const identityValidity = 24 * time.Hour

// Proxy is one running proxy of the datapath.
type Proxy struct {
	Agent *agentctl.Agent
	Node  string
	// Pod is empty for a node proxy.
	Pod string
	// Container is the pod's or node's container the proxy runs in.
	Container string
}

func (p *Proxy) where() string {
	if p.Pod != "" {
		return fmt.Sprintf("pod %s on node %s", p.Pod, p.Node)
	}
	return "node " + p.Node
}

// dirName names the proxy's own state directory.
func (p *Proxy) dirName() string {
	if p.Pod != "" {
		return "pod-" + p.Pod
	}
	return "node-" + p.Node
}

func (p *Proxy) target() clusters.Target {
	if p.Pod != "" {
		return clusters.Target{Pod: p.Pod}
	}
	return clusters.Target{Node: p.Node}
}

// Mesh is the live state of one proxy datapath in one cluster.
type Mesh struct {
	Name    string
	Opts    scenarios.DatapathOptions
	Cluster clusters.Cluster
	Topo    *clusters.Topology
	// Dir holds the proxies' files, on whatever file system they run
	// on: each proxy's in a directory of its own.
	Dir      string
	Services string // service table file, as Dir/<proxy>/ holds it
	// files go to every proxy: the service table, the CA certificate.
	files   map[string][]byte
	ca      *proxy.CA
	Proxies []*Proxy

	mu sync.Mutex
	// steered are the nodes with a steering table to remove.
	steered []string
}

// New prepares the shared state: the service table of every server
// service, and with mTLS the run's CA.
func New(name string, opts scenarios.DatapathOptions, c clusters.Cluster) (*Mesh, error) {
	topo := c.Topology()
	dir := datapaths.StatePath(topo.RunID, name)
	m := &Mesh{Name: name, Opts: opts, Cluster: c, Topo: topo, Dir: dir, Services: filepath.Join(dir, "services.json"),
		files: map[string][]byte{}}
	table, err := proxy.MarshalServices(ServiceTable(topo))
	if err != nil {
		return m, err
	}
	m.files[m.Services] = table
	if opts.MTLS {
		if m.ca, err = proxy.GenerateCA(topo.RunID); err != nil {
			return m, fmt.Errorf("generate run CA: %w", err)
		}
		m.files[filepath.Join(dir, "ca.pem")] = m.ca.CertPEM()
	}
	return m, nil
}

// WaypointRole is the role of a datapath's waypoint services
// (clusters.Injection.Services): proxies, not workloads, so neither in the
// service table nor strict, whose tunnel listeners take mTLS only anyway.
const WaypointRole = "waypoint"

// ServiceTable lists the server services with their endpoints, as every
// proxy's route table.
func ServiceTable(topo *clusters.Topology) []proxy.Service {
	var out []proxy.Service
	for _, s := range topo.Services {
		if s.Role == "client" || s.Role == WaypointRole {
			continue
		}
		ps := proxy.Service{Name: s.Name, VIP: s.VIP, Port: uint16(s.Port)}
		for _, name := range s.Pods {
			p, _ := topo.Pod(name)
			ps.Endpoints = append(ps.Endpoints, netip.AddrPortFrom(p.IP, uint16(s.TargetPort)))
		}
		out = append(out, ps)
	}
	return out
}

// TLS issues the identity of a service (or node), sets o to load it and
// returns the files it names; without mTLS it does nothing.
func (m *Mesh) TLS(identity string, o *proxy.Options) (map[string][]byte, error) {
	if m.ca == nil {
		return nil, nil
	}
	id, err := proxy.IssueIdentity(m.ca, identity, identityValidity)
	if err != nil {
		return nil, fmt.Errorf("issue identity %s: %w", identity, err)
	}
	key, err := id.KeyPEM()
	if err != nil {
		return nil, err
	}
	o.CA = filepath.Join(m.Dir, "ca.pem")
	o.Cert, o.Key = filepath.Join(m.Dir, identity+".pem"), filepath.Join(m.Dir, identity+"-key.pem")
	return map[string][]byte{o.Cert: id.CertPEM(), o.Key: key}, nil
}

// BaseOptions are the proxy options every datapath starts from: the
// flags' defaults with the datapath's mode, the service table and the
// counters of the datapath's steering table in the proxy's namespace. The
// datapath sets the listeners and peers.
func (m *Mesh) BaseOptions() proxy.Options {
	o := proxy.DefaultOptions()
	if m.Opts.Mode != "" {
		o.Mode = proxy.Mode(m.Opts.Mode)
	}
	o.Services = m.Services
	o.CountTable = TableName(m.Name, m.Topo.RunID)
	return o
}

// Launch is one proxy to start and, optionally, the netfilter table that
// steers its node's traffic to it once it serves.
type Launch struct {
	Proxy   Proxy
	Options proxy.Options
	// Files are the proxy's own files (its identity) beside the shared ones.
	Files map[string][]byte
	Steer *steer.Table
}

// startParallel bounds how many proxies start at once: process start-up is
// CPU-bound and the machine may have two cores.
const startParallel = 8

// StartAll starts the proxies, a few at a time, each followed by its
// steering table, and returns the first error.
func (m *Mesh) StartAll(ctx context.Context, launches []Launch) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, startParallel)
	errs := make(chan error, len(launches))
	for _, l := range launches {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			err := m.start(ctx, l)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var all []error
	for range launches {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// start starts one proxy with its files in a directory of its own, the
// only state it sees where pods have a private mount namespace.
func (m *Mesh) start(ctx context.Context, l Launch) error {
	p := l.Proxy
	own := filepath.Join(m.Dir, p.dirName())
	rebase := func(path string) string {
		if path == "" {
			return ""
		}
		return filepath.Join(own, filepath.Base(path))
	}
	files := make(map[string][]byte, len(m.files)+len(l.Files))
	for path, data := range m.files {
		files[rebase(path)] = data
	}
	for path, data := range l.Files {
		files[rebase(path)] = data
	}
	o := l.Options
	o.Services, o.CA, o.Cert, o.Key = rebase(o.Services), rebase(o.CA), rebase(o.Cert), rebase(o.Key)
	spec := clusters.ProcSpec{
		Target: p.target(), Container: p.Container, Name: m.Name + " proxy in " + p.where(),
		Args: o.Args(), StateDir: own,
	}
	if p.Pod == "" {
		// SO_MARK on its upstream sockets and reading its table's
		// counters; a sidecar has it from its container (NetAdmin).
		spec.Caps = netAdmin
	}
	a, err := agentctl.StartWithFiles(ctx, m.Cluster, spec, files)
	if err != nil {
		return err
	}
	p.Agent = a
	m.mu.Lock()
	m.Proxies = append(m.Proxies, &p)
	if l.Steer != nil {
		m.steered = append(m.steered, p.Node)
	}
	m.mu.Unlock()
	if l.Steer == nil {
		return nil
	}
	return agentctl.Run(ctx, m.Cluster, clusters.ProcSpec{
		Target: clusters.Target{Node: p.Node}, Name: "steering table on node " + p.Node,
		Args: steer.Options{Table: *l.Steer}.Args(), Caps: netAdmin,
	})
}

// Strict is, with mTLS and node proxies, what makes mTLS strict (Istio's
// STRICT PeerAuthentication) on node: the node resets plaintext connections
// to the application ports of its pods, forwarded from anywhere or sent
// from the node itself, except the node proxy's own (marked) ones. Meshed
// traffic from other nodes arrives through the node proxy's tunnel. It is
// nil without mTLS.
func (m *Mesh) Strict(node string) []steer.Reject {
	if !m.Opts.MTLS {
		return nil
	}
	ports := make(map[string]uint16, len(m.Topo.Services))
	for _, svc := range m.Topo.Services {
		if svc.Role != WaypointRole {
			ports[svc.Name] = uint16(svc.TargetPort)
		}
	}
	var out []steer.Reject
	for _, pod := range m.Topo.Pods {
		if _, ok := ports[pod.Service]; ok && pod.Node == node {
			out = append(out, steer.Reject{Dst: netip.PrefixFrom(pod.IP, 32), DstPort: ports[pod.Service]})
		}
	}
	return out
}

// TableName is the name of a datapath's netfilter tables in a run.
func TableName(datapath, runID string) string { return "mb-" + datapath + "-" + runID }

// PathCounters reports the datapath's netfilter rule hits, as the proxies
// beside the rules count them, and the connections the proxies accepted
// from applications. NAT rules see only a connection's first packet, so
// warm keep-alive connections add none.
func (m *Mesh) PathCounters(ctx context.Context) (datapaths.PathCounters, error) {
	stats, err := m.Stats(ctx)
	return datapaths.PathCounters{
		NetfilterHits: Sum(stats, m.Proxies, proxy.StatRedirectHits, nil),
		Connections:   Sum(stats, m.Proxies, proxy.StatConnsOutbound, nil),
	}, err
}

// Stats returns each proxy's counters, in m.Proxies order. A dead proxy is
// an error naming its pod and node.
func (m *Mesh) Stats(ctx context.Context) ([]map[string]uint64, error) {
	// A copy: proxies join and leave while an enrolment polls (Leave).
	m.mu.Lock()
	proxies := slices.Clone(m.Proxies)
	m.mu.Unlock()
	out := make([]map[string]uint64, len(proxies))
	for i, p := range proxies {
		if err := p.Agent.Alive(); err != nil {
			return nil, err
		}
		st, err := p.Agent.Stats(ctx)
		if err != nil {
			return nil, fmt.Errorf("read counters of the proxy in %s: %w", p.where(), err)
		}
		out[i] = st
	}
	return out, nil
}

// Sources sums the proxies' per-source counters (proxy.SourceKey): what
// their outbound listeners intercepted from each application address.
func (m *Mesh) Sources(ctx context.Context) (map[netip.Addr]datapaths.SourceCounts, error) {
	stats, err := m.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := map[netip.Addr]datapaths.SourceCounts{}
	for _, st := range stats {
		for key, v := range st {
			rest, ok := strings.CutPrefix(key, "source/")
			if !ok {
				continue
			}
			ipText, counter, ok := strings.Cut(rest, "/")
			ip, err := netip.ParseAddr(ipText)
			if !ok || err != nil {
				return nil, fmt.Errorf("read per-source counters: malformed key %q", key)
			}
			c := out[ip]
			switch counter {
			case proxy.SourceConns:
				c.Connections += v
			case proxy.SourceRequests:
				c.Requests += v
			case proxy.SourceBytes:
				c.Bytes += v
			case proxy.SourceMTLS:
				c.MTLS += v
			}
			out[ip] = c
		}
	}
	return out, nil
}

// Leave stops the proxy in pod and forgets it, for a pod about to be
// deleted (a rolling replacement): its counters leave the sums with it.
func (m *Mesh) Leave(pod string) {
	m.mu.Lock()
	i := slices.IndexFunc(m.Proxies, func(p *Proxy) bool { return p.Pod == pod })
	var p *Proxy
	if i >= 0 {
		p = m.Proxies[i]
		m.Proxies = slices.Delete(slices.Clone(m.Proxies), i, i+1)
	}
	m.mu.Unlock()
	if p != nil {
		p.Agent.Stop()
	}
}

// Passthrough empties the service table the proxies started from then on
// load: they send each connection on to its original destination (a
// service's VIP, which the node's service rules then balance), as Istio's
// passthrough does for endpoints it does not know, since a rolling
// replacement changes the endpoints under them.
func (m *Mesh) Passthrough() error {
	table, err := proxy.MarshalServices(nil)
	if err != nil {
		return err
	}
	m.files[m.Services] = table
	return nil
}

// Sum adds one counter over proxies selected by keep (nil keeps all).
func Sum(stats []map[string]uint64, proxies []*Proxy, key string, keep func(*Proxy) bool) uint64 {
	var n uint64
	for i, st := range stats {
		if keep == nil || keep(proxies[i]) {
			n += st[key]
		}
	}
	return n
}

// NotInPath is the Verify error when counters show the proxies were bypassed.
func NotInPath(format string, args ...any) error {
	return fmt.Errorf("%w: %s", datapaths.ErrNotInPath, fmt.Sprintf(format, args...))
}

// Components lists the proxies' cgroups per node for cost accounting.
func (m *Mesh) Components() []datapaths.Component {
	out := make([]datapaths.Component, 0, len(m.Proxies))
	for _, p := range m.Proxies {
		var cg string
		if p.Pod != "" {
			pod, _ := m.Topo.Pod(p.Pod)
			cg = pod.ContainerCgroup(p.Container)
		} else {
			node, _ := m.Topo.Node(p.Node)
			cg = node.ContainerCgroup(p.Container)
		}
		out = append(out, datapaths.Component{Name: p.Container, Node: p.Node, Cgroup: cg})
	}
	return out
}

// Uninstall stops the proxies, removes the steering tables from the nodes
// and the runner's state directory. It is safe on a partial install.
func (m *Mesh) Uninstall(ctx context.Context) error {
	if m == nil {
		return nil
	}
	var wg sync.WaitGroup
	for _, p := range m.Proxies {
		wg.Go(p.Agent.Stop)
	}
	wg.Wait()
	var errs []error
	for _, node := range m.steered {
		errs = append(errs, agentctl.Run(ctx, m.Cluster, clusters.ProcSpec{
			Target: clusters.Target{Node: node}, Name: "steering table removal on node " + node,
			Args: steer.Options{Table: steer.Table{Name: TableName(m.Name, m.Topo.RunID)}, Remove: true}.Args(),
			Caps: netAdmin,
		}))
	}
	errs = append(errs, datapaths.RemoveState(m.Topo.RunID))
	return errors.Join(errs...)
}
