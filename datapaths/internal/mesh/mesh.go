// Package mesh is what the proxy-based datapaths (sidecar, nodeproxy, ebpf)
// share on the netns provider: the service table and identities their
// proxies load, starting and watching the proxies, the netfilter tables they
// install, and teardown. A datapath says where proxies run and how traffic
// is steered; Mesh keeps track of everything so Uninstall can remove it.
package mesh

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/internal/redirect"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/scenarios"
)

// Ports every proxy uses (Istio's).
const (
	OutboundPort = 15001
	InboundPort  = 15006
	TunnelPort   = proxy.DefaultTunnelPort
)

// identityValidity covers any run; expired identities are refused.
const identityValidity = 24 * time.Hour

// Proxy is one running proxy of the datapath.
type Proxy struct {
	Agent *agentctl.Agent
	Node  string
	// Pod is empty for a node proxy.
	Pod    string
	Cgroup string
}

func (p *Proxy) where() string {
	if p.Pod != "" {
		return fmt.Sprintf("pod %s on node %s", p.Pod, p.Node)
	}
	return "node " + p.Node
}

// Mesh is the live state of one proxy datapath in one cluster.
type Mesh struct {
	Name    string
	Opts    scenarios.DatapathOptions
	Cluster clusters.Cluster
	Topo    *clusters.Topology
	// Dir holds the service table and certificates.
	Dir      string
	Services string // service table file
	ca       *proxy.CA
	Proxies  []*Proxy

	mu     sync.Mutex
	tables []redirect.Table
}

// New prepares the shared state: the state directory, the service table of
// every server service, and with mTLS the run's CA.
func New(name string, opts scenarios.DatapathOptions, c clusters.Cluster) (*Mesh, error) {
	topo := c.Topology()
	dir, err := datapaths.StateDir(topo.RunID, name)
	if err != nil {
		return nil, err
	}
	m := &Mesh{Name: name, Opts: opts, Cluster: c, Topo: topo, Dir: dir, Services: filepath.Join(dir, "services.json")}
	if err := proxy.SaveServices(m.Services, ServiceTable(topo)); err != nil {
		return m, err
	}
	if opts.MTLS {
		if m.ca, err = proxy.GenerateCA(topo.RunID); err != nil {
			return m, fmt.Errorf("generate run CA: %w", err)
		}
		if err := m.ca.WriteCert(filepath.Join(dir, "ca.pem")); err != nil {
			return m, err
		}
	}
	return m, nil
}

// ServiceTable lists the server services with their endpoints, as every
// proxy's route table.
func ServiceTable(topo *clusters.Topology) []proxy.Service {
	var out []proxy.Service
	for _, s := range topo.Services {
		if s.Role == "client" {
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

// TLSArgs issues the identity of a service (or node) and returns the proxy
// flags that load it; without mTLS it returns nothing.
func (m *Mesh) TLSArgs(identity string) ([]string, error) {
	if m.ca == nil {
		return nil, nil
	}
	id, err := proxy.IssueIdentity(m.ca, identity, identityValidity)
	if err != nil {
		return nil, fmt.Errorf("issue identity %s: %w", identity, err)
	}
	cert, key := filepath.Join(m.Dir, identity+".pem"), filepath.Join(m.Dir, identity+"-key.pem")
	if err := id.WriteFiles(cert, key); err != nil {
		return nil, err
	}
	return []string{"-ca", filepath.Join(m.Dir, "ca.pem"), "-cert", cert, "-key", key}, nil
}

// BaseArgs are the proxy flags every datapath passes.
func (m *Mesh) BaseArgs() []string {
	mode := m.Opts.Mode
	if mode == "" {
		mode = string(proxy.L4)
	}
	return []string{"agent", proxy.Role, "-mode", mode, "-services", m.Services,
		"-mark", "0x" + strconv.FormatUint(proxy.DefaultMark, 16)}
}

// Launch is one proxy to start and, optionally, the netfilter table that
// steers traffic to it once it serves.
type Launch struct {
	Proxy Proxy
	Args  []string
	Steer *redirect.Table
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

func (m *Mesh) start(ctx context.Context, l Launch) error {
	p := l.Proxy
	target := clusters.Target{Pod: p.Pod}
	if p.Pod == "" {
		target = clusters.Target{Node: p.Node}
	}
	a, err := agentctl.Start(ctx, m.Cluster, clusters.ProcSpec{
		Target: target, Name: m.Name + " proxy in " + p.where(), Args: l.Args, Cgroup: p.Cgroup,
	})
	if err != nil {
		return err
	}
	p.Agent = a
	m.mu.Lock()
	m.Proxies = append(m.Proxies, &p)
	if l.Steer != nil {
		m.tables = append(m.tables, *l.Steer)
	}
	m.mu.Unlock()
	if l.Steer == nil {
		return nil
	}
	return redirect.Install(*l.Steer)
}

// TableName is the name of the datapath's netfilter tables.
func (m *Mesh) TableName() string { return "mb-" + m.Name + "-" + m.Topo.RunID }

// RedirectHits sums the packets the datapath's redirect rules matched.
func (m *Mesh) RedirectHits() (uint64, error) {
	var total uint64
	for _, t := range m.tables {
		n, err := redirect.Hits(t.NetNS, t.Name)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// PathCounters reports the datapath's netfilter rule hits. NAT rules see
// only a connection's first packet, so warm keep-alive connections add none.
func (m *Mesh) PathCounters(context.Context) (datapaths.PathCounters, error) {
	hits, err := m.RedirectHits()
	return datapaths.PathCounters{NetfilterHits: hits}, err
}

// Stats returns each proxy's counters, in m.Proxies order. A dead proxy is
// an error naming its pod and node.
func (m *Mesh) Stats(ctx context.Context) ([]map[string]uint64, error) {
	out := make([]map[string]uint64, len(m.Proxies))
	for i, p := range m.Proxies {
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
		out = append(out, datapaths.Component{Node: p.Node, Cgroup: p.Cgroup})
	}
	return out
}

// Uninstall stops the proxies, removes the netfilter tables and the state
// directory. It is safe on a partial install.
func (m *Mesh) Uninstall(context.Context) error {
	if m == nil {
		return nil
	}
	var wg sync.WaitGroup
	for _, p := range m.Proxies {
		wg.Go(p.Agent.Stop)
	}
	wg.Wait()
	var errs []error
	for _, t := range m.tables {
		errs = append(errs, redirect.Remove(t.NetNS, t.Name))
	}
	errs = append(errs, datapaths.RemoveState(m.Topo.RunID))
	return errors.Join(errs...)
}
