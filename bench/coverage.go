package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// roleMislabelled is the role of the service the mislabelled pods belong
// to: client pods the mesh's injector skipped.
const roleMislabelled = "mislabelled"

// HostLoader is implemented by Agents that can start a load agent outside
// any pod, in a node's network namespace, as a process started on the
// node would run: the unmeshed host sources.
type HostLoader interface {
	StartHostLoad(ctx context.Context, c clusters.Cluster, node string, index int, o agent.LoadOptions) (Load, error)
}

// hostStarter is implemented by clusters whose node-level processes run in
// a pod (the kube provider's node agents): StartHost starts one on a node
// outside every pod's cgroup, as a process started on the node by hand
// runs. Elsewhere (netns) a node's own processes already run outside its
// pods' cgroups.
type hostStarter interface {
	StartHost(ctx context.Context, spec clusters.ProcSpec) (clusters.Process, error)
}

// onHost starts processes with StartHost.
type onHost struct {
	clusters.Cluster
	hs hostStarter
}

func (h onHost) Start(ctx context.Context, spec clusters.ProcSpec) (clusters.Process, error) {
	return h.hs.StartHost(ctx, spec)
}

func (procAgents) StartHostLoad(ctx context.Context, c clusters.Cluster, node string, index int, o agent.LoadOptions) (Load, error) {
	if hs, ok := c.(hostStarter); ok {
		c = onHost{Cluster: c, hs: hs}
	}
	a, err := agentctl.Start(ctx, c, clusters.ProcSpec{
		Target: clusters.Target{Node: node},
		Name:   "host load agent " + strconv.Itoa(index) + " on node " + node, Args: o.Args(),
	})
	if err != nil {
		return nil, err
	}
	return loadProc{a}, nil
}

// labelSources labels the cluster for c's unmeshed sources, as a user
// labels namespaces and pods for a mesh's injector, and adds the
// mislabelled pods, on the client's node. Without unmeshed sources it
// labels nothing: every pod is injected.
func labelSources(spec *clusters.Spec, c scenarios.Case) {
	u := c.Unmeshed
	if u == nil {
		return
	}
	inject := u.InjectByDefault()
	spec.NamespaceLabels = map[string]string{clusters.InjectLabel: strconv.FormatBool(inject)}
	if !inject {
		// Opt-in namespace: the meshed pods carry the label.
		for i := range spec.Services {
			spec.Services[i].PodLabels = map[string]string{clusters.InjectLabel: "true"}
		}
	}
	if n := u.Pods(); n > 0 {
		// Mislabelled: "false" where the namespace injects, no label where
		// it does not.
		var labels map[string]string
		if inject {
			labels = map[string]string{clusters.InjectLabel: "false"}
		}
		spec.Services = append(spec.Services, clusters.ServiceSpec{
			Name: roleMislabelled, Role: roleMislabelled, Port: ServicePort, TargetPort: ServerPort,
			PodNodes: make([]int, n), PodLabels: labels,
		})
	}
}

// source is one traffic source of the coverage stage: its load agents and
// the addresses its connections come from.
type source struct {
	kind  string
	loads []Load
	addrs []netip.Addr
}

// startSources starts the load agents of the case's unmeshed sources and
// keeps every source in cr, the meshed client first, and the agents for
// teardown.
func (r *Runner) startSources(ctx context.Context, cr *caseRun) error {
	topo := cr.cluster.Topology()
	meshed := &source{kind: results.SourceMeshed, loads: cr.clients}
	mislabelled := &source{kind: results.SourceMislabelled}
	for _, p := range topo.Pods {
		svc, _ := topo.Service(p.Service)
		switch svc.Role {
		case "client":
			meshed.addrs = append(meshed.addrs, p.IP)
		case roleMislabelled:
			mislabelled.addrs = append(mislabelled.addrs, p.IP)
			l, err := r.opts.Agents.StartLoad(ctx, cr.cluster, p, loadOptions(cr.c, cr.targets))
			if err != nil {
				return fmt.Errorf("start unmeshed sources: %w", err)
			}
			cr.unmeshed = append(cr.unmeshed, l)
			mislabelled.loads = append(mislabelled.loads, l)
		}
	}
	out := []*source{meshed}
	if len(mislabelled.loads) > 0 {
		out = append(out, mislabelled)
	}
	if n := cr.c.Unmeshed.Hosts(); n > 0 {
		hl, ok := r.opts.Agents.(HostLoader)
		if !ok {
			return errors.New("start unmeshed sources: these agents cannot start host processes")
		}
		node := topo.Nodes[scenarios.ClientNode]
		host := &source{kind: results.SourceHost, addrs: nodeAddrs(node)}
		for i := range n {
			l, err := hl.StartHostLoad(ctx, cr.cluster, node.Name, i, loadOptions(cr.c, cr.targets))
			if err != nil {
				return fmt.Errorf("start unmeshed sources: %w", err)
			}
			cr.unmeshed = append(cr.unmeshed, l)
			host.loads = append(host.loads, l)
		}
		out = append(out, host)
	}
	cr.sources = out
	return nil
}

// nodeAddrs are the addresses a node's own processes connect from: its
// address on the nodes' network and, where the node routes its pods
// through a gateway address on their veths (kindnet's ptp), that one.
func nodeAddrs(n clusters.Node) []netip.Addr {
	out := []netip.Addr{n.IP}
	if n.PodCIDR.IsValid() {
		out = append(out, n.PodCIDR.Addr().Next())
	}
	return out
}

// sent counts one source's requests during the coverage load.
type sent struct{ all, ok uint64 }

// coverage runs the coverage stage: every source sends what one meshed
// client pod sends in a repetition, all at once, and the datapath's own
// per-source counters, read before and after, say what it took in hand.
func (r *Runner) coverage(ctx context.Context, cr *caseRun) (*results.Coverage, error) {
	srcs := cr.sources
	cov := &results.Coverage{Basis: results.BasisConnections}
	if cr.c.Options.Mode == scenarios.ModeL7 && !cr.c.L7Fallback {
		cov.Basis = results.BasisRequests
	}
	if reach, ok := cr.dp.(datapaths.Reacher); ok {
		cov.Reach = reach.Reach()
	}
	counted, ok := cr.dp.(datapaths.Sourced)
	var before map[netip.Addr]datapaths.SourceCounts
	var err error
	if ok {
		before, err = counted.Sources(ctx)
		switch {
		case errors.Is(err, datapaths.ErrNoSourceCounters):
			cov.Reason, counted = err.Error(), nil
		case err != nil:
			return nil, fmt.Errorf("read per-source counters: %w", err)
		}
	} else {
		cov.Reason = fmt.Sprintf("datapath %s has no per-source counters: it takes no traffic in hand", cr.c.Datapath)
	}
	counts, err := r.attackSources(ctx, cr, srcs)
	if err != nil {
		return nil, err
	}
	conns := make([]uint64, len(srcs))
	for i, s := range srcs {
		for _, l := range s.loads {
			sent, err := l.Sent(ctx)
			if err != nil {
				return nil, fmt.Errorf("read load agent counters: %w", err)
			}
			conns[i] += sent.Connections
		}
	}
	// Ending the load agents closes their connections: an l4 proxy counts
	// a connection's bytes in steps of up to 1 MiB, and all as it ends.
	var wg sync.WaitGroup
	for _, s := range srcs {
		for _, l := range s.loads {
			wg.Go(l.Close)
		}
	}
	wg.Wait()
	var after map[netip.Addr]datapaths.SourceCounts
	if counted != nil {
		if after, err = settled(ctx, counted); err != nil {
			return nil, fmt.Errorf("read per-source counters: %w", err)
		}
		cov.Counted = true
		cov.CountedBy = "the datapath's proxies, per source address of the connections their outbound listeners accepted"
		cov.Reason = ""
	}
	for i, s := range srcs {
		cov.Sources = append(cov.Sources, sourceCoverage(s, counts[i], conns[i], cov, before, after))
	}
	if err := bpfSources(ctx, cr.dp, srcs, cov); err != nil {
		return nil, err
	}
	return cov, nil
}

// bpfSources adds what a datapath's BPF maps counted per source, where it
// has such maps.
func bpfSources(ctx context.Context, dp datapaths.Datapath, srcs []*source, cov *results.Coverage) error {
	b, ok := dp.(datapaths.BPFSourced)
	if !ok {
		return nil
	}
	counts, err := b.BPFSources(ctx)
	switch {
	case errors.Is(err, datapaths.ErrNoSourceCounters):
		return nil
	case err != nil:
		return fmt.Errorf("read the datapath's per-source BPF counters: %w", err)
	}
	for i, s := range srcs {
		var n uint64
		for _, a := range s.addrs {
			n += counts[a]
		}
		cov.Sources[i].BPFConnections = &n
	}
	return nil
}

// settleTries and settleEvery bound how long coverage waits for the
// proxies to count the bytes of the connections that just closed.
const (
	settleTries = 30
	settleEvery = 100 * time.Millisecond
)

// settled reads the per-source counters until two reads in a row agree.
func settled(ctx context.Context, counted datapaths.Sourced) (map[netip.Addr]datapaths.SourceCounts, error) {
	last, err := counted.Sources(ctx)
	for range settleTries {
		if err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(settleEvery):
		}
		var now map[netip.Addr]datapaths.SourceCounts
		if now, err = counted.Sources(ctx); err == nil && maps.Equal(now, last) {
			return now, nil
		}
		last = now
	}
	return last, err
}

// attackSources runs one open-loop attack of the case's duration from
// every load agent of every source at once, each at a meshed client pod's
// share of the rate, and counts each source's requests.
func (r *Runner) attackSources(ctx context.Context, cr *caseRun, srcs []*source) ([]sent, error) {
	d := cr.c.Duration
	ctx, cancel := context.WithTimeout(ctx, agent.Deadline(d)+attackMargin)
	defer cancel()
	at := wire.Attack{Tag: "coverage", Rate: cr.c.Rate / float64(len(cr.clients)), Duration: d}
	counts := make([]sent, len(srcs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 0)
	for i, s := range srcs {
		for _, l := range s.loads {
			wg.Go(func() {
				_, err := l.Attack(ctx, at, func(batch []results.Sample) {
					mu.Lock()
					defer mu.Unlock()
					for _, smp := range batch {
						counts[i].all++
						if succeeded(smp) {
							counts[i].ok++
						}
					}
				})
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("coverage load: %w", err)
	}
	return counts, nil
}

// sourceCoverage is the coverage of one source from its requests and the
// datapath's counters before and after the coverage load (nil when the
// datapath counts none); conns are the connections its agents opened.
func sourceCoverage(s *source, n sent, conns uint64, cov *results.Coverage, before, after map[netip.Addr]datapaths.SourceCounts) results.SourceCoverage {
	out := results.SourceCoverage{Source: s.kind, Agents: len(s.loads), Sent: n.all, Succeeded: n.ok, Connections: conns}
	for _, a := range s.addrs {
		out.Addresses = append(out.Addresses, a.String())
	}
	if !cov.Counted {
		return out
	}
	var total, delta datapaths.SourceCounts
	for _, a := range s.addrs {
		b, e := before[a], after[a]
		total.Connections += e.Connections
		total.MTLS += e.MTLS
		delta.Requests += e.Requests - b.Requests
		delta.Bytes += e.Bytes - b.Bytes
		delta.MTLS += e.MTLS - b.MTLS
	}
	out.DatapathConnections, out.DatapathBytes = total.Connections, delta.Bytes
	var through, encrypted uint64
	if cov.Basis == results.BasisRequests {
		through, encrypted = min(n.all, delta.Requests), min(n.all, delta.MTLS)
	} else {
		through = shareOf(n.all, total.Connections, out.Connections)
		encrypted = shareOf(n.all, total.MTLS, out.Connections)
	}
	encrypted = min(encrypted, through)
	var observable uint64
	if delta.Bytes > 0 {
		// The counters name the source by its address and count its bytes.
		observable = through
	}
	out.Through, out.Encrypted, out.Observable = &through, &encrypted, &observable
	switch {
	case through == 0:
		out.Note = fmt.Sprintf("the datapath's hooks did not reach this source: its counters saw none of the source's %d connections", out.Connections)
	case through < n.all:
		out.Note = fmt.Sprintf("the datapath's counters saw %d of the source's %d connections", min(total.Connections, out.Connections), out.Connections)
	}
	return out
}

// shareOf is the part of requests carried by part of whole connections,
// at most all of them: exact when the datapath took all or none.
func shareOf(requests, part, whole uint64) uint64 {
	if whole == 0 || part == 0 {
		return 0
	}
	if part >= whole {
		return requests
	}
	return uint64(math.Round(float64(requests) * float64(part) / float64(whole)))
}
