package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// errNoProbe marks a packet-path probe this machine or provider cannot run.
var errNoProbe = errors.New("packet-path probe unavailable")

// probePath runs the packet-path probe after the latency phase: with the
// tracepoints attached on every node it sends ProbeRequests requests one
// after another on the load agent's warm keep-alive connections, counts the
// stack traversals per request, then traces the ordered path of one more
// request.
func (r *Runner) probePath(ctx context.Context, cr *caseRun) (*results.Path, error) {
	probes, err := startProbes(ctx, r.opts.Agents, cr.cluster, cr.dp)
	if err != nil {
		return nil, err
	}
	defer probes.stop()
	client := cr.clients[0]
	// One request first so that every connection the probe uses is open
	// and warm whatever the datapath's pools did since the measurement.
	if err := r.sequential(ctx, client, "path probe", 1); err != nil {
		return nil, err
	}
	if err := probes.each(func(a ProbeAgent) error { return a.Reset(ctx) }); err != nil {
		return nil, err
	}
	before, err := pathCounters(ctx, cr.dp)
	if err != nil {
		return nil, err
	}
	n := cr.c.ProbeRequests
	if err := r.sequential(ctx, client, "path probe", n); err != nil {
		return nil, err
	}
	counts, err := probes.counts(ctx)
	if err != nil {
		return nil, err
	}
	after, err := pathCounters(ctx, cr.dp)
	if err != nil {
		return nil, err
	}
	if err := probes.each(func(a ProbeAgent) error { return a.StartTrace(ctx) }); err != nil {
		return nil, err
	}
	if err := r.sequential(ctx, client, "path probe", 1); err != nil {
		return nil, err
	}
	steps, err := probes.stopTrace(ctx)
	if err != nil {
		return nil, err
	}

	per := func(v uint64) float64 { return round2(float64(v) / float64(n)) }
	// Hops are the data-carrying device traversals only: a pure ACK leaves
	// on its own or rides on the response as scheduling decides, so it is
	// a figure of its own.
	var tx, rx, acks, sock, route uint64
	for _, c := range counts {
		switch c.Event {
		case pathprobe.Transmit:
			tx += c.N
		case pathprobe.Receive:
			rx += c.N
		case pathprobe.TransmitAck, pathprobe.ReceiveAck:
			acks += c.N
		case pathprobe.SocketSend, pathprobe.SocketRecv:
			sock += c.N
		case pathprobe.RouteLookup:
			route += c.N
		}
	}
	return &results.Path{
		Requests:        n,
		HopsPerRequest:  per(tx + rx),
		Transmits:       per(tx),
		Receives:        per(rx),
		AcksPerRequest:  per(acks),
		SocketCrossings: per(sock),
		RouteLookups:    per(route),
		NetfilterHits:   per(after.NetfilterHits - before.NetfilterHits),
		Redirects:       per(after.Redirects - before.Redirects),
		Trace:           renderTrace(steps),
		Steps:           pathSteps(steps),
	}, nil
}

// probes are the path probe agents of a cluster, one per node, attached.
type probes []ProbeAgent

// startProbes starts a path probe agent on every node, each watching its
// node's namespace and its pods', the first node's also the fabric,
// counting only traffic between the run's addresses and naming the events
// of the node's applications and datapath processes, and attaches them, all
// nodes at once. It fails with errNoProbe when the provider gives no
// namespace paths or a node's kernel cannot run the probe.
func startProbes(ctx context.Context, agents Agents, c clusters.Cluster, dp datapaths.Datapath) (probes, error) {
	topo := c.Topology()
	watch, err := probeNamespaces(topo)
	if err != nil {
		return nil, err
	}
	allow := probeAddresses(topo)
	procs := probeProcesses(topo, dp)
	ps := make(probes, len(topo.Nodes))
	var g errgroup.Group
	for i, n := range topo.Nodes {
		g.Go(func() error {
			a, err := agents.StartProbe(ctx, c, n.Name, pathprobe.Options{Namespaces: watch[i], Allow: allow, Processes: procs[i]})
			if err != nil {
				return err
			}
			ps[i] = a
			at, err := a.Attach(ctx)
			if err != nil {
				return fmt.Errorf("path probe on node %s: %w", n.Name, err)
			}
			if at.Unsupported != "" {
				return fmt.Errorf("%w: path probe on node %s: %s", errNoProbe, n.Name, at.Unsupported)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		ps.stop()
		return nil, err
	}
	return ps, nil
}

// probeNamespaces lists the namespaces the probe agent of each node of t
// watches, in the order of t.Nodes. Loopback counts in pods, where a
// sidecar's legs to its application take it, and not in nodes or the
// fabric, where no datapath sends a request over it but a Kubernetes node
// carries the container runtime's exec streams on it.
func probeNamespaces(t *clusters.Topology) ([][]pathprobe.Namespace, error) {
	out := make([][]pathprobe.Namespace, len(t.Nodes))
	add := func(i int, name, path string, loopback bool) error {
		if path == "" {
			return fmt.Errorf("%w: the cluster provider gives no network namespace path for %s", errNoProbe, name)
		}
		out[i] = append(out[i], pathprobe.Namespace{Name: name, Path: path, Loopback: loopback})
		return nil
	}
	for i, n := range t.Nodes {
		if i == 0 && t.FabricNetNS != "" {
			if err := add(i, "fabric", t.FabricNetNS, false); err != nil {
				return nil, err
			}
		}
		if err := add(i, "node "+n.Name, n.NetNS, false); err != nil {
			return nil, err
		}
		for _, p := range t.PodsOn(n.Name) {
			if err := add(i, "pod "+p.Name, p.NetNS, true); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// probeProcesses lists the process groups the probe agent of each node of
// t names in traces, in the order of t.Nodes: every pod's workload, and
// each of the datapath's components (sidecars, node proxies) on the node.
func probeProcesses(t *clusters.Topology, dp datapaths.Datapath) [][]pathprobe.Process {
	out := make([][]pathprobe.Process, len(t.Nodes))
	index := make(map[string]int, len(t.Nodes))
	for i, n := range t.Nodes {
		index[n.Name] = i
		for _, p := range t.PodsOn(n.Name) {
			out[i] = append(out[i], pathprobe.Process{Name: results.AppActor, Cgroup: p.ContainerCgroup(AppContainer)})
		}
	}
	if costed, ok := dp.(datapaths.Costed); ok {
		for _, comp := range costed.Components() {
			if i, ok := index[comp.Node]; ok {
				out[i] = append(out[i], pathprobe.Process{Name: comp.Name, Cgroup: comp.Cgroup})
			}
		}
	}
	return out
}

// probeAddresses lists the IPv4 prefixes of the run's traffic, which is all
// the probes count: every pod's address, service virtual IP and node
// address (node proxies tunnel between nodes), and each node's pod range,
// which holds the address the node itself uses towards its pods (the pod
// gateway on every host-side veth, where kindnet and the netns provider put
// it): the node proxy's connections to its pods come from it, and
// connections redirected to the node proxy are accepted on it. Not the
// whole service range: on Kubernetes it is the smallest prefix holding the
// run's services and may hold the API server's. Addresses a listed range
// holds are left out, which keeps the agents' arguments short.
func probeAddresses(t *clusters.Topology) []netip.Prefix {
	var ranges []netip.Prefix
	for _, n := range t.Nodes {
		if n.PodCIDR.IsValid() && n.PodCIDR.Addr().Is4() {
			ranges = append(ranges, n.PodCIDR.Masked())
		}
	}
	out := slices.Clone(ranges)
	addr := func(a netip.Addr) {
		if a.Is4() && !slices.ContainsFunc(ranges, func(r netip.Prefix) bool { return r.Contains(a) }) {
			out = append(out, netip.PrefixFrom(a, 32))
		}
	}
	for _, n := range t.Nodes {
		addr(n.IP)
	}
	for _, s := range t.Services {
		addr(s.VIP)
	}
	for _, p := range t.Pods {
		addr(p.IP)
	}
	return out
}

// each runs f on every probe, one after another.
func (ps probes) each(f func(ProbeAgent) error) error {
	for _, a := range ps {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// counts returns the counters of every node.
func (ps probes) counts(ctx context.Context) ([]pathprobe.Count, error) {
	var all []pathprobe.Count
	for _, a := range ps {
		c, err := a.Counts(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, c...)
	}
	return all, nil
}

// stopTrace stops tracing on every node and merges the nodes' steps by
// time. On the netns provider every node shares one kernel and its
// monotonic clock, so this is the kernel's order; across real machines the
// clocks differ and only each node's own steps are in order.
func (ps probes) stopTrace(ctx context.Context) ([]pathprobe.Step, error) {
	var all []pathprobe.Step
	for _, a := range ps {
		s, err := a.StopTrace(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, s...)
	}
	slices.SortStableFunc(all, func(x, y pathprobe.Step) int { return cmp.Compare(x.Time, y.Time) })
	return all, nil
}

// stop ends every probe that started, which frees its BPF objects.
func (ps probes) stop() {
	var wg sync.WaitGroup
	for _, a := range ps {
		if a != nil {
			wg.Go(a.Close)
		}
	}
	wg.Wait()
}

// sequential sends n requests one after another (closed loop).
func (r *Runner) sequential(ctx context.Context, client Load, what string, n int) error {
	_, err := closedLoop(ctx, client, what, n)
	return err
}

// closedLoop sends n requests one after another and returns their
// samples; it fails when any request did.
func closedLoop(ctx context.Context, client Load, what string, n int) ([]results.Sample, error) {
	var failed int
	var first string
	var all []results.Sample
	_, err := client.Attack(ctx, wire.Attack{Tag: what, Count: n}, func(s []results.Sample) {
		all = append(all, s...)
		for _, x := range s {
			if !succeeded(x) {
				if failed == 0 {
					first = fmt.Sprintf("code %d %s", x.Code, x.Error)
				}
				failed++
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s requests: %w", what, err)
	}
	if failed > 0 {
		return nil, fmt.Errorf("%s: %d of %d requests failed (first: %s)", what, failed, n, first)
	}
	return all, nil
}

func pathCounters(ctx context.Context, dp datapaths.Datapath) (datapaths.PathCounters, error) {
	c, ok := dp.(datapaths.Counted)
	if !ok {
		return datapaths.PathCounters{}, nil
	}
	return c.PathCounters(ctx)
}

// renderTrace turns the steps of one request into lines such as
// "pod client-0 eth0 transmit 140B app", collapsing nothing.
func renderTrace(steps []pathprobe.Step) []string {
	out := make([]string, 0, len(steps))
	for _, s := range steps {
		dev := s.Device
		if dev == "" {
			dev = "-"
		}
		out = append(out, fmt.Sprintf("%-22s %-8s %-12s %6dB %s", s.Namespace, dev, s.Type, s.Len, s.Actor))
	}
	return out
}

// pathSteps records the steps of one request.
func pathSteps(steps []pathprobe.Step) []results.PathStep {
	out := make([]results.PathStep, 0, len(steps))
	for _, s := range steps {
		out = append(out, results.PathStep{Namespace: s.Namespace, Device: s.Device, Event: s.Type.String(), Bytes: s.Len, Actor: s.Actor})
	}
	return out
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
