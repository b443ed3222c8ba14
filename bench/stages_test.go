package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/costagent"
	"github.com/meshbench/meshbench/internal/status"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// The stage tests run the runner against fakes of everything it drives: a
// provider whose clusters are topologies only, a datapath and agents that
// answer from memory. They need no privilege, no namespace and no BPF.

// fakes holds the fakes of one run and what happened to them.
type fakes struct {
	mu sync.Mutex
	// fail names the stage that fails in the first case and err is its
	// error; at, if set, picks the call of that stage that fails (1 = the
	// first).
	fail string
	at   int
	err  error
	// onMeasure, if set, runs at every measured attack with its number
	// (from 1) and may fail it.
	onMeasure func(ctx context.Context, n int) error
	// blackHole fails every request, as a datapath that drops traffic
	// does once the load agent cuts it off at the attack's deadline.
	blackHole bool
	// sent, if set, is the share of a measured attack's planned requests
	// sent, the rest not by the deadline.
	sent float64
	// serverConns, if set, is the connections each server counts; by
	// default one per request.
	serverConns *uint64
	// dpConns, if set, makes the datapath count connections: each
	// reading of its counters adds dpConns.
	dpConns *uint64
	// residue, if set, is what a cluster finds left after its case;
	// injectErr, if set, fails every reused cluster's Inject.
	residue   []string
	injectErr error
	// plain hides the clusters' Reusable methods, as kube's and kind's
	// clusters have none.
	plain bool

	// measured names, per measured attack, the cluster it ran in.
	measured []string
	// searchFails, if set, says which share of a search step's requests
	// fail at a rate, in the case numbered from 1.
	searchFails func(caseN int, rate float64) float64

	calls    map[string]int
	clusters []*fakeCluster
	dps      []*fakeDatapath
	agents   []*fakeAgent
}

func newFakes() *fakes { return &fakes{calls: map[string]int{}} }

// failAt counts a call of stage and returns the error it should fail with.
// A case starts by getting its datapath, so that count numbers the cases.
func (f *fakes) failAt(stage string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[stage]++
	firstCase := f.calls["new datapath"] <= 1
	if f.fail == stage && firstCase && (f.at == 0 || f.at == f.calls[stage]) {
		return f.err
	}
	return nil
}

func (f *fakes) options() Options {
	fake := datapaths.Kind{Datapath: scenarios.Datapath{Name: "fake", Proxy: true}, New: f.newDatapath}
	return Options{Provider: fakeProvider{f}, Datapaths: datapaths.Registry{fake}, Agents: fakeAgents{f}}
}

func (f *fakes) newDatapath(scenarios.DatapathOptions) (datapaths.Datapath, error) {
	if err := f.failAt("new datapath"); err != nil {
		return nil, err
	}
	d := &fakeDatapath{f: f, name: "fake"}
	f.mu.Lock()
	f.dps = append(f.dps, d)
	f.mu.Unlock()
	if f.dpConns != nil {
		return &countedDatapath{fakeDatapath: d, step: *f.dpConns}, nil
	}
	return d, nil
}

// countedDatapath counts step more connections at every reading.
type countedDatapath struct {
	*fakeDatapath
	step, conns uint64
}

func (d *countedDatapath) PathCounters(context.Context) (datapaths.PathCounters, error) {
	d.conns += d.step
	return datapaths.PathCounters{Connections: d.conns}, nil
}

type fakeProvider struct{ f *fakes }

// Create lays the spec out as a topology: one /24 of the pod range per
// node, one virtual IP per service.
func (p fakeProvider) Create(_ context.Context, spec clusters.Spec) (clusters.Cluster, error) {
	if err := p.f.failAt("create"); err != nil {
		return nil, err
	}
	topo := &clusters.Topology{RunID: spec.RunID, Name: "fake-" + spec.RunID, ServiceCIDR: spec.ServiceCIDR}
	for i := range spec.Nodes {
		topo.Nodes = append(topo.Nodes, clusters.Node{
			Name: fmt.Sprintf("n%d", i), IP: netip.AddrFrom4([4]byte{172, 18, 0, byte(2 + i)}),
			PodCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i), 0}), 24),
			NetNS:   fmt.Sprintf("/fake/n%d", i), Cgroup: fmt.Sprintf("fake/n%d", i),
		})
	}
	pods := make([]int, spec.Nodes)
	for si, s := range spec.Services {
		svc := clusters.Service{Name: s.Name, Role: s.Role, VIP: netip.AddrFrom4([4]byte{10, 96, 0, byte(1 + si)}),
			Port: s.Port, TargetPort: s.TargetPort}
		for pi, ni := range s.PodNodes {
			pods[ni]++
			node := topo.Nodes[ni]
			name := fmt.Sprintf("%s-%d", s.Name, pi)
			topo.Pods = append(topo.Pods, clusters.Pod{
				Name: name, Service: s.Name, Node: node.Name,
				IP:    netip.AddrFrom4([4]byte{10, 244, byte(ni), byte(1 + pods[ni])}),
				NetNS: "/fake/" + name, Cgroup: node.Cgroup + "/" + name,
			})
			svc.Pods = append(svc.Pods, name)
		}
		topo.Services = append(topo.Services, svc)
	}
	c := &fakeCluster{f: p.f, topo: topo}
	p.f.mu.Lock()
	p.f.clusters = append(p.f.clusters, c)
	p.f.mu.Unlock()
	if p.f.plain {
		return plainCluster{c}, nil
	}
	return c, nil
}

// plainCluster is a cluster that cannot be reused.
type plainCluster struct{ c *fakeCluster }

func (p plainCluster) Topology() *clusters.Topology { return p.c.Topology() }
func (p plainCluster) Start(ctx context.Context, s clusters.ProcSpec) (clusters.Process, error) {
	return p.c.Start(ctx, s)
}
func (p plainCluster) Delete(ctx context.Context) error { return p.c.Delete(ctx) }

// fakeCluster is clusters.Reusable: Residue says f.residue, Inject counts.
type fakeCluster struct {
	f        *fakes
	topo     *clusters.Topology
	deleted  int
	injected int
}

var _ clusters.Reusable = (*fakeCluster)(nil)

func (c *fakeCluster) Residue(context.Context) ([]string, error) { return c.f.residue, nil }

func (c *fakeCluster) Inject(context.Context, clusters.Injection) error {
	c.injected++
	return c.f.injectErr
}

func (c *fakeCluster) Topology() *clusters.Topology { return c.topo }

func (c *fakeCluster) Start(context.Context, clusters.ProcSpec) (clusters.Process, error) {
	return nil, errors.New("fake cluster: no processes; the runner starts agents through Options.Agents")
}

func (c *fakeCluster) Delete(context.Context) error {
	c.deleted++
	return nil
}

type fakeDatapath struct {
	f           *fakes
	name        string
	installed   bool
	uninstalled int
}

func (d *fakeDatapath) Install(context.Context, clusters.Cluster) error {
	d.installed = true
	return d.f.failAt("install")
}

func (d *fakeDatapath) Verify(context.Context, datapaths.Traffic) error { return d.f.failAt("verify") }

func (d *fakeDatapath) Uninstall(context.Context) error {
	d.uninstalled++
	return nil
}

type fakeAgents struct{ f *fakes }

// fakeAgent is any of the agents; closed counts its Close calls.
type fakeAgent struct {
	f       *fakes
	kind    string
	cluster string
	// latency is what its requests take: 1 ms in a run's first cluster,
	// 2 ms in the second, and so on, so that a repetition shows where it
	// ran.
	latency time.Duration
	closed  int
}

func (a fakeAgents) start(stage, kind string, c clusters.Cluster) (*fakeAgent, error) {
	if err := a.f.failAt(stage); err != nil {
		return nil, err
	}
	ag := &fakeAgent{f: a.f, kind: kind, cluster: c.Topology().Name, latency: time.Millisecond}
	a.f.mu.Lock()
	for i, fc := range a.f.clusters {
		if fc == c {
			ag.latency = time.Duration(i+1) * time.Millisecond
		}
	}
	a.f.mu.Unlock()
	a.f.mu.Lock()
	a.f.agents = append(a.f.agents, ag)
	a.f.mu.Unlock()
	return ag, nil
}

func (a fakeAgents) StartServer(_ context.Context, c clusters.Cluster, _ clusters.Pod, _ agent.ServerOptions) (Server, error) {
	return a.start("deploy", "server", c)
}

func (a fakeAgents) StartLoad(_ context.Context, c clusters.Cluster, _ clusters.Pod, _ agent.LoadOptions) (Load, error) {
	return a.start("deploy", "load", c)
}

func (a fakeAgents) StartCost(_ context.Context, c clusters.Cluster, _ string) (CostAgent, error) {
	return a.start("cost start", "cost", c)
}

func (a fakeAgents) StartProbe(_ context.Context, c clusters.Cluster, _ string, _ pathprobe.Options) (ProbeAgent, error) {
	return a.start("probe", "probe", c)
}

func (a *fakeAgent) Close() {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	a.closed++
}

func (a *fakeAgent) Served(context.Context) (requests, connections uint64, err error) {
	if a.f.serverConns != nil {
		return 1, *a.f.serverConns, nil
	}
	return 1, 1, nil
}
func (a *fakeAgent) Sent(context.Context) (datapaths.Traffic, error) {
	return datapaths.Traffic{Connections: 1}, nil
}
func (a *fakeAgent) Alive() error { return nil }

// Attack answers every request on schedule with 200 in 1 ms, in one batch;
// an attack by count (the probe's) sends that many.
func (a *fakeAgent) Attack(ctx context.Context, at wire.Attack, onSamples func([]results.Sample)) (wire.Done, error) {
	switch at.Tag {
	case "verify":
		a.f.mu.Lock()
		a.f.calls["verify requests"] += at.Count
		a.f.mu.Unlock()
	case "warmup":
		if err := a.f.failAt("warm-up"); err != nil {
			return wire.Done{}, err
		}
	case "measure":
		a.f.mu.Lock()
		a.f.calls["measured attacks"]++
		a.f.measured = append(a.f.measured, a.cluster)
		n, hook := a.f.calls["measured attacks"], a.f.onMeasure
		a.f.mu.Unlock()
		if hook != nil {
			if err := hook(ctx, n); err != nil {
				return wire.Done{}, err
			}
		}
		if err := a.f.failAt("measure"); err != nil {
			return wire.Done{}, err
		}
	}
	planned, interval := at.Count, time.Millisecond
	if planned == 0 {
		planned = max(1, int(at.Rate*at.Duration.Seconds()))
		interval = at.Duration / time.Duration(planned)
	}
	n := planned
	if a.f.sent > 0 && at.Tag == "measure" {
		n = int(a.f.sent * float64(planned))
	}
	failing := 0
	if at.Tag == "search" && a.f.searchFails != nil {
		a.f.mu.Lock()
		caseN := a.f.calls["new datapath"]
		a.f.mu.Unlock()
		failing = int(a.f.searchFails(caseN, at.Rate) * float64(n))
	}
	samples := make([]results.Sample, n)
	for i := range samples {
		samples[i] = results.Sample{Seq: uint64(i), Intended: int64(i) * int64(interval), Latency: a.latency, Service: a.latency, Code: 200}
		if a.f.blackHole || i < failing {
			samples[i].Code, samples[i].Error = 0, "Get \"http://10.96.0.2:80/\": context deadline exceeded"
		}
	}
	onSamples(samples)
	return wire.Done{Requests: uint64(n), Planned: uint64(planned)}, nil
}

func (a *fakeAgent) Start(context.Context, map[string][]string) error { return nil }

// fakeProxyBytes is the memory every fake cost agent finds.
const fakeProxyBytes = 1 << 20

func (a *fakeAgent) Stop(context.Context) (map[string]costagent.Cost, error) {
	if err := a.f.failAt("cost stop"); err != nil {
		return nil, err
	}
	return map[string]costagent.Cost{datapathGroup: {Procs: 1, PSSMeanBytes: fakeProxyBytes}, appGroup: {}}, nil
}

func (a *fakeAgent) Attach(context.Context) (pathprobe.Attached, error) {
	return pathprobe.Attached{}, a.f.failAt("probe attach")
}
func (a *fakeAgent) Reset(context.Context) error      { return nil }
func (a *fakeAgent) StartTrace(context.Context) error { return nil }
func (a *fakeAgent) StopTrace(context.Context) ([]pathprobe.Step, error) {
	return []pathprobe.Step{{Namespace: "pod client-0", Device: "eth0", Event: pathprobe.Event{Type: pathprobe.Transmit, Len: 100}}}, nil
}

func (a *fakeAgent) Counts(context.Context) ([]pathprobe.Count, error) {
	return []pathprobe.Count{
		{Key: pathprobe.Key{Event: pathprobe.Transmit}, N: 20},
		{Key: pathprobe.Key{Event: pathprobe.Receive}, N: 20},
		{Key: pathprobe.Key{Event: pathprobe.TransmitAck}, N: 3},
		{Key: pathprobe.Key{Event: pathprobe.ReceiveAck}, N: 2},
	}, nil
}

// stageCase is a small case with every stage: warm-up, two repetitions,
// the probe.
func stageCase(id string) scenarios.Case {
	return scenarios.Case{
		ID: id, Datapath: "fake", Placement: scenarios.CrossNode,
		Nodes: 2, Services: 1, PodsPerService: 2, ClientPods: 1,
		PodCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/16",
		Rate: 100, Duration: 100 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Connections: 2, Repetitions: 2, ProbeRequests: 10,
	}
}

// checkTornDown checks that everything the run started was stopped: every
// agent closed once, every installed datapath uninstalled, every cluster
// deleted.
func (f *fakes) checkTornDown(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.agents {
		if a.closed != 1 {
			t.Errorf("%s agent closed %d times, want once", a.kind, a.closed)
		}
	}
	for _, d := range f.dps {
		if d.installed && d.uninstalled != 1 {
			t.Errorf("datapath uninstalled %d times, want once", d.uninstalled)
		}
	}
	for _, c := range f.clusters {
		if c.deleted != 1 {
			t.Errorf("cluster %s deleted %d times, want once", c.topo.Name, c.deleted)
		}
	}
}

func TestStagesOK(t *testing.T) {
	f := newFakes()
	var seen [][]string
	opts := f.options()
	opts.CaseDone = func(done []results.Case) error {
		var ids []string
		for _, c := range done {
			ids = append(ids, c.ID)
		}
		seen = append(seen, ids)
		return nil
	}
	out, err := New(opts).Run(t.Context(), []scenarios.Case{stageCase("a"), stageCase("b")})
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if len(out) != 2 {
		t.Fatalf("got %d cases, want 2", len(out))
	}
	for _, c := range out {
		if c.Status != "ok" || len(c.Repetitions) != 2 || len(c.NodeCosts) != 2 || c.Path == nil {
			t.Errorf("case %s: status %q (%s), %d repetitions, %d node costs, path %v; want ok, 2, 2, a path",
				c.ID, c.Status, c.Error, len(c.Repetitions), len(c.NodeCosts), c.Path)
			continue
		}
		// Two probes of 20 + 20 data traversals and 5 ACKs each, over
		// 10 requests: the ACKs stay out of the hops.
		if p := c.Path; p.HopsPerRequest != 8 || p.Transmits != 4 || p.Receives != 4 || p.AcksPerRequest != 1 {
			t.Errorf("case %s: hops %g (transmits %g, receives %g), ACKs %g per request; want 8 (4, 4), 1",
				c.ID, p.HopsPerRequest, p.Transmits, p.Receives, p.AcksPerRequest)
		}
	}
	if got := fmt.Sprint(seen); got != "[[a] [a b]]" {
		t.Errorf("CaseDone saw %s, want [[a] [a b]]", got)
	}
	for _, c := range out {
		for _, n := range c.NodeCosts {
			if n.DatapathIdleMemoryBytes != fakeProxyBytes {
				t.Errorf("case %s node %s: idle memory %g, want the %d the cost agent found before the load", c.ID, n.Node, n.DatapathIdleMemoryBytes, fakeProxyBytes)
			}
		}
	}
	// Per case: 2 servers, 1 load agent, 2 cost agents before the load
	// and 2 during it, 2 probes.
	if len(f.agents) != 18 || len(f.clusters) != 2 {
		t.Errorf("started %d agents in %d clusters, want 18 in 2", len(f.agents), len(f.clusters))
	}
	f.checkTornDown(t)
}

// A failure in any stage fails the case with that stage's error, tears down
// what the case started and goes on with the next case.
func TestStageFailureTearsDown(t *testing.T) {
	tests := []struct {
		stage string
		at    int
		// want is in the case's error.
		want string
	}{
		{stage: "new datapath", want: "boom"},
		{stage: "create", want: "create cluster: boom"},
		{stage: "install", want: "install datapath fake: boom"},
		{stage: "deploy", at: 2, want: "boom"},
		{stage: "warm-up", want: "warm-up: boom"},
		{stage: "verify", want: "verify datapath fake: boom"},
		{stage: "measure", want: "measure: boom"},
		{stage: "verify", at: 3, want: "verify datapath fake after repetition 2: boom"},
		// Cost agents sample twice: once before the load (the idle
		// memory), on calls 1 and 2 of the case's two nodes, then
		// during it.
		{stage: "cost start", at: 2, want: "sample idle memory: "},
		{stage: "cost start", at: 3, want: "start cost sampler: "},
		{stage: "cost stop", want: "sample idle memory: cost agent on node n0: boom"},
		{stage: "cost stop", at: 3, want: "sample node costs: cost agent on node n"},
		{stage: "probe", want: "packet-path probe: boom"},
		// The nodes' probes attach at once: either may be the second.
		{stage: "probe attach", at: 2, want: "packet-path probe: path probe on node n"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d", tt.stage, tt.at), func(t *testing.T) {
			f := newFakes()
			f.fail, f.at, f.err = tt.stage, tt.at, errors.New("boom")
			var done int
			opts := f.options()
			opts.CaseDone = func(cases []results.Case) error {
				done = len(cases)
				return nil
			}
			out, err := New(opts).Run(t.Context(), []scenarios.Case{stageCase("a"), stageCase("b")})
			if err != nil {
				t.Fatalf("Run = %v, want nil: a failed case does not stop the run", err)
			}
			if len(out) != 2 || done != 2 {
				t.Fatalf("got %d cases, CaseDone saw %d; want 2 and 2", len(out), done)
			}
			if c := out[0]; c.Status != "failed" || !strings.Contains(c.Error, tt.want) || !strings.Contains(c.Error, "boom") {
				t.Errorf("first case: status %q, error %q; want failed with %q", c.Status, c.Error, tt.want)
			}
			if c := out[0]; c.NodeCosts != nil || c.Path != nil {
				t.Errorf("first case: failed with node costs %v and path %v, want none", c.NodeCosts, c.Path)
			}
			if c := out[1]; c.Status != "ok" {
				t.Errorf("second case: status %q (%s), want ok", c.Status, c.Error)
			}
			f.checkTornDown(t)
		})
	}
}

// A datapath that black-holes traffic fails its case at the warm-up, the
// first stage that sends, with what became of the requests.
// Without a warm-up the verify stage still has traffic to look at: every
// client sends one request to each service first.
func TestStageNoWarmupSendsVerifyRequests(t *testing.T) {
	f := newFakes()
	c := stageCase("a")
	c.Warmup = 0
	out, err := New(f.options()).Run(t.Context(), []scenarios.Case{c})
	if err != nil || len(out) != 1 || out[0].Status != "ok" {
		t.Fatalf("Run = %v, %+v; want one ok case", err, out)
	}
	if got, want := f.calls["verify requests"], c.ClientPods*c.Services; got != want {
		t.Errorf("verify requests = %d, want %d (one per client and service)", got, want)
	}
	f.checkTornDown(t)
}

// A tcp-crr case whose servers saw fewer connections than exchanges fails
// verify: something on the path reused connections.
func TestStageTCPCRRNeedsAConnectionPerExchange(t *testing.T) {
	for _, tt := range []struct {
		protocol string
		conns    uint64
		wantErr  string
	}{
		{scenarios.TCPCRR, 1, ""},
		{scenarios.TCPCRR, 0, "tcp-crr: the servers answered 2 exchanges on 0 connections"},
		{scenarios.TCPRR, 0, ""},
	} {
		f := newFakes()
		f.serverConns = &tt.conns
		c := stageCase("a")
		c.Protocol = tt.protocol
		out, err := New(f.options()).Run(t.Context(), []scenarios.Case{c})
		if len(out) != 1 || !strings.Contains(out[0].Error, tt.wantErr) || (tt.wantErr == "") != (out[0].Status == "ok") {
			t.Errorf("%s with %d connections per server: %+v, %v; want error %q", tt.protocol, tt.conns, out, err, tt.wantErr)
		}
		f.checkTornDown(t)
	}
}

// A case built in code with mode l7 and a protocol the l7 proxy does not
// parse fails before it creates anything, instead of measuring a proxy
// that breaks the protocol.
func TestStageL7NeedsHTTP1(t *testing.T) {
	f := newFakes()
	c := stageCase("a")
	c.Protocol, c.Options.Mode = scenarios.TCPRR, scenarios.ModeL7
	out, err := New(f.options()).Run(t.Context(), []scenarios.Case{c})
	if len(out) != 1 || out[0].Error != "mode l7 parses HTTP only, not tcp-rr: run the case at l4" || len(f.clusters) != 0 {
		t.Errorf("Run = %+v, %v, %d clusters; want the case failed before a cluster was created", out, err, len(f.clusters))
	}
}

// A tcp-crr repetition fails unless the datapath's connection count grew
// by the exchanges (10 per repetition here, all successful).
func TestStageTCPCRRConnectionsThroughDatapath(t *testing.T) {
	for _, tt := range []struct {
		protocol string
		step     uint64
		wantErr  string
	}{
		{scenarios.TCPCRR, 10, ""},
		{scenarios.TCPCRR, 0, "verify datapath fake in repetition 1: tcp-crr made 10 connections (10 of them succeeded), but the datapath took 0 in hand"},
		{scenarios.TCPCRR, 11, "but the datapath took 11 in hand"},
		{scenarios.TCPRR, 0, ""},
	} {
		f := newFakes()
		f.dpConns = &tt.step
		c := stageCase("a")
		c.Protocol = tt.protocol
		out, err := New(f.options()).Run(t.Context(), []scenarios.Case{c})
		if len(out) != 1 || !strings.Contains(out[0].Error, tt.wantErr) || (tt.wantErr == "") != (out[0].Status == "ok") {
			t.Errorf("%s, %d datapath connections per repetition: %+v, %v; want error %q", tt.protocol, tt.step, out, err, tt.wantErr)
		}
		f.checkTornDown(t)
	}
}

func TestStageBlackHoleFailsWarmup(t *testing.T) {
	f := newFakes()
	f.blackHole = true
	out, err := New(f.options()).Run(t.Context(), []scenarios.Case{stageCase("a")})
	if err != nil || len(out) != 1 {
		t.Fatalf("Run = %+v, %v; want one failed case", out, err)
	}
	want := "warm-up: no request succeeded by the attack's deadline of 2.05s: 5 planned, 5 sent, all failed (first: Get \"http://10.96.0.2:80/\": context deadline exceeded)"
	if c := out[0]; c.Status != "failed" || c.Error != want {
		t.Errorf("case: status %q, error %q; want failed with %q", c.Status, c.Error, want)
	}
	if f.calls["measured attacks"] != 0 {
		t.Errorf("%d measured attacks after a failed warm-up, want none", f.calls["measured attacks"])
	}
	f.checkTornDown(t)
}

// Requests not sent by the deadline are counted, and the case that sent
// too few is marked short of its rate.
func TestStageShortfall(t *testing.T) {
	f := newFakes()
	f.sent = 0.5
	out, err := New(f.options()).Run(t.Context(), []scenarios.Case{stageCase("a")})
	if err != nil || len(out) != 1 || out[0].Status != "ok" {
		t.Fatalf("Run = %+v, %v; want one ok case", out, err)
	}
	c := out[0]
	if !c.RateShortfall || c.AchievedFraction == nil || *c.AchievedFraction > 0.6 {
		t.Errorf("achieved %v req/s of %v (fraction %v), shortfall %v; want about half, short", c.AchievedRPS, c.Rate, c.AchievedFraction, c.RateShortfall)
	}
	for _, r := range c.Repetitions {
		if r.Requests != 5 || r.Unsent != 5 || r.PacerLatenessUS == nil {
			t.Errorf("repetition %d: %d requests, %d unsent, lateness %v; want 5, 5 and a lateness", r.Index, r.Requests, r.Unsent, r.PacerLatenessUS)
		}
	}
}

// A probe the machine cannot run is skipped, not a failure.
func TestStageProbeUnsupportedSkips(t *testing.T) {
	f := newFakes()
	f.fail, f.err = "probe attach", fmt.Errorf("%w: no BTF", errNoProbe)
	out, err := New(f.options()).Run(t.Context(), []scenarios.Case{stageCase("a")})
	if err != nil || len(out) != 1 || out[0].Status != "ok" || out[0].Path != nil {
		t.Fatalf("Run = %+v, %v; want one ok case without a path", out, err)
	}
	f.checkTornDown(t)
}

// A configuration error at Create stops the run after that case: every
// other case would meet it too.
func TestStageConfigErrorStopsRun(t *testing.T) {
	f := newFakes()
	f.fail, f.err = "create", clusters.ConfigErrorf("no kubeconfig")
	out, err := New(f.options()).Run(t.Context(), []scenarios.Case{stageCase("a"), stageCase("b")})
	if !errors.Is(err, clusters.ErrConfig) {
		t.Fatalf("Run = %v, want an error wrapping clusters.ErrConfig", err)
	}
	if len(out) != 1 || out[0].Status != "failed" || !strings.Contains(out[0].Error, "no kubeconfig") {
		t.Fatalf("got %+v, want the one failed case", out)
	}
	if f.calls["create"] != 1 {
		t.Errorf("Create called %d times, want once", f.calls["create"])
	}
	f.checkTornDown(t)
}

// Cancellation during the measurement keeps the finished cases and
// repetitions, marks the cut case interrupted, runs no more cases and
// still tears down.
func TestStageCancelKeepsPartialResults(t *testing.T) {
	f := newFakes()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Case a measures twice; case b is cut during its second repetition.
	f.onMeasure = func(ctx context.Context, n int) error {
		if n == 4 {
			cancel()
			return ctx.Err()
		}
		return nil
	}
	var done []results.Case
	opts := f.options()
	opts.CaseDone = func(cases []results.Case) error {
		done = cases
		return nil
	}
	out, err := New(opts).Run(ctx, []scenarios.Case{stageCase("a"), stageCase("b"), stageCase("c")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if len(out) != 2 || len(done) != 2 {
		t.Fatalf("got %d cases, CaseDone saw %d; want 2 and 2 (case c never starts)", len(out), len(done))
	}
	if c := out[0]; c.Status != "ok" || len(c.Repetitions) != 2 {
		t.Errorf("case a: status %q, %d repetitions; want ok with 2", c.Status, len(c.Repetitions))
	}
	if c := out[1]; c.Status != Interrupted || c.Error != Interrupted || len(c.Repetitions) != 1 {
		t.Errorf("case b: status %q, error %q, %d repetitions; want %s with the 1 finished", c.Status, c.Error, len(c.Repetitions), Interrupted)
	}
	if len(f.clusters) != 2 {
		t.Errorf("created %d clusters, want 2", len(f.clusters))
	}
	f.checkTornDown(t)
}

// TestStagesReportProgress checks what the runner tells its status printer:
// each case with the run's progress, and what each step's requests saw.
func TestStagesReportProgress(t *testing.T) {
	f := newFakes()
	opts := f.options()
	var b strings.Builder
	opts.Status = status.New(&b)
	if _, err := New(opts).Run(t.Context(), []scenarios.Case{stageCase("a"), stageCase("b")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"   case 1/2: a\n",
		"   case 2/2: b (",
		" left)\n",
		" Warming up for 50ms: 5 requests, p99 1ms, 0 errors\n",
		" Measuring 100 req/s for 100ms, repetition 2/2: 10 requests, p99 1ms, 0 errors\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status does not say %q:\n%s", want, b.String())
		}
	}
}

// TestUnsupportedCase checks that a case whose datapath this machine lacks
// is marked unsupported, with the reason, is torn down, and that the run
// goes on to the next case.
func TestUnsupportedCase(t *testing.T) {
	f := newFakes()
	f.fail, f.err = "install", fmt.Errorf("%w: node n0: no TUN device", datapaths.ErrUnsupported)
	out, err := New(f.options()).Run(t.Context(), []scenarios.Case{stageCase("a"), stageCase("b")})
	if err != nil {
		t.Fatalf("Run = %v, want nil: an unsupported case does not stop the run", err)
	}
	if len(out) != 2 {
		t.Fatalf("got %d cases, want 2", len(out))
	}
	if c := out[0]; c.Status != Unsupported || !strings.Contains(c.Error, "no TUN device") {
		t.Errorf("first case: status %q, error %q; want %s with the reason", c.Status, c.Error, Unsupported)
	}
	if c := out[1]; c.Status != "ok" {
		t.Errorf("second case: status %q (%s), want ok", c.Status, c.Error)
	}
	f.checkTornDown(t)
}

// pointCases are the cases of one point, a, b and c (as of three
// datapaths), then d of another point (another rate).
func pointCases() []scenarios.Case {
	d := stageCase("d")
	d.Rate = 200
	return []scenarios.Case{stageCase("a"), stageCase("b"), stageCase("c"), d}
}

// caseIDs lists the cases' IDs.
func caseIDs(cases []results.Case) string {
	var ids []string
	for _, c := range cases {
		ids = append(ids, c.ID)
	}
	return strings.Join(ids, " ")
}

// In interleaved order the cases of a point take turns a repetition at a
// time, each in its own cluster set up once, and every repetition is
// recorded with the case it measured.
func TestStagesInterleaved(t *testing.T) {
	f := newFakes()
	opts := f.options()
	opts.Order = scenarios.OrderInterleaved
	var seen []string
	opts.CaseDone = func(done []results.Case) error {
		seen = append(seen, caseIDs(done))
		return nil
	}
	out, err := New(opts).Run(t.Context(), pointCases())
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	// Clusters are named after the case index: a, b, c, d are 0 to 3.
	want := "fake-0 fake-1 fake-2 fake-0 fake-1 fake-2 fake-3 fake-3"
	if got := strings.Join(f.measured, " "); got != want {
		t.Errorf("measured in %s, want %s", got, want)
	}
	if got := strings.Join(seen, ", "); got != "a, a b, a b c, a b c d" {
		t.Errorf("CaseDone saw %s, want a, a b, a b c, a b c d", got)
	}
	for i, c := range out {
		if c.Status != "ok" || len(c.Repetitions) != 2 || len(c.NodeCosts) != 2 || c.Path == nil {
			t.Errorf("case %s: status %q (%s), %d repetitions, %d node costs, path %v; want ok, 2, 2, a path",
				c.ID, c.Status, c.Error, len(c.Repetitions), len(c.NodeCosts), c.Path)
			continue
		}
		// The fake agents of the i-th cluster answer in i+1 ms.
		for j, rep := range c.Repetitions {
			if ms := math.Round(rep.LatencyUS.P50 / 1000); rep.Index != j || ms != float64(i+1) {
				t.Errorf("case %s repetition %d: index %d, p50 %g µs; want %d, about %d ms (its own cluster's)", c.ID, j, rep.Index, rep.LatencyUS.P50, j, i+1)
			}
		}
		for _, n := range c.NodeCosts {
			if n.DatapathMemoryBytesMean != fakeProxyBytes || n.DatapathIdleMemoryBytes != fakeProxyBytes {
				t.Errorf("case %s node %s: memory %g, idle %g; want %d each", c.ID, n.Node, n.DatapathMemoryBytesMean, n.DatapathIdleMemoryBytes, fakeProxyBytes)
			}
		}
	}
	if len(f.clusters) != 4 {
		t.Errorf("created %d clusters, want 4: one per case", len(f.clusters))
	}
	f.checkTornDown(t)
}

// A case that fails in interleaved order is torn down at once and the
// other cases of its point go on.
func TestStagesInterleavedFailure(t *testing.T) {
	f := newFakes()
	f.onMeasure = func(_ context.Context, n int) error {
		if n == 2 { // b's first repetition
			return errors.New("boom")
		}
		return nil
	}
	opts := f.options()
	opts.Order = scenarios.OrderInterleaved
	out, err := New(opts).Run(t.Context(), pointCases())
	if err != nil {
		t.Fatalf("Run = %v, want nil: a failed case does not stop the run", err)
	}
	if got, want := strings.Join(f.measured, " "), "fake-0 fake-1 fake-2 fake-0 fake-2 fake-3 fake-3"; got != want {
		t.Errorf("measured in %s, want %s", got, want)
	}
	if got := caseIDs(out); got != "a b c d" {
		t.Fatalf("cases %s, want a b c d", got)
	}
	for _, c := range out {
		want := "ok"
		if c.ID == "b" {
			want = "failed"
		}
		if c.Status != want {
			t.Errorf("case %s: status %q (%s), want %s", c.ID, c.Status, c.Error, want)
		}
	}
	if b := out[1]; b.Error != "measure: boom" || len(b.Repetitions) != 0 || b.NodeCosts != nil {
		t.Errorf("case b: error %q, %d repetitions, costs %v; want measure: boom, none, none", b.Error, len(b.Repetitions), b.NodeCosts)
	}
	if c := f.clusters[1]; c.deleted != 1 {
		t.Errorf("case b's cluster deleted %d times, want once", c.deleted)
	}
	f.checkTornDown(t)
}

// Ctrl-C in the middle of an interleaved point keeps every repetition
// measured so far, marks the point's cases interrupted, starts no more
// cases and tears everything down.
func TestStagesInterleavedCancelKeepsPartialResults(t *testing.T) {
	f := newFakes()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f.onMeasure = func(ctx context.Context, n int) error {
		if n == 5 { // b's second repetition
			cancel()
			return ctx.Err()
		}
		return nil
	}
	opts := f.options()
	opts.Order = scenarios.OrderInterleaved
	var done []results.Case
	opts.CaseDone = func(cases []results.Case) error {
		done = cases
		return nil
	}
	out, err := New(opts).Run(ctx, pointCases())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if got := caseIDs(out); got != "a b c" || len(done) != 3 {
		t.Fatalf("cases %s, CaseDone saw %d; want a b c and 3 (d never starts)", got, len(done))
	}
	for i, want := range []int{2, 1, 1} {
		if c := out[i]; c.Status != Interrupted || c.Error != Interrupted || len(c.Repetitions) != want {
			t.Errorf("case %s: status %q, error %q, %d repetitions; want %s with the %d finished", c.ID, c.Status, c.Error, len(c.Repetitions), Interrupted, want)
		}
	}
	if len(f.clusters) != 3 {
		t.Errorf("created %d clusters, want 3", len(f.clusters))
	}
	f.checkTornDown(t)
}

// With cluster reuse, a case's cluster goes to the next case of the same
// layout once its datapath is uninstalled and nothing of it is left; a
// cluster that holds something left, or whose case failed, is deleted,
// and so are the spares no case takes.
func TestStagesReuseClusters(t *testing.T) {
	other := stageCase("other")
	other.Nodes = 3 // another layout
	tests := []struct {
		name    string
		order   string
		residue []string
		// failing fails the first case's verify.
		failing, plain bool
		cases          []scenarios.Case
		// clusters is how many are created; injected how many times one
		// was reused.
		clusters, injected int
	}{
		{name: "same layout", cases: []scenarios.Case{stageCase("a"), stageCase("b"), stageCase("c")}, clusters: 1, injected: 2},
		{name: "something left", residue: []string{"nftables table ip mb-sidecar-x in pod client-0"},
			cases: []scenarios.Case{stageCase("a"), stageCase("b")}, clusters: 2},
		{name: "failed case", failing: true, cases: []scenarios.Case{stageCase("a"), stageCase("b")}, clusters: 2},
		{name: "provider without reuse", plain: true, cases: []scenarios.Case{stageCase("a"), stageCase("b")}, clusters: 2},
		{name: "other layout", cases: []scenarios.Case{stageCase("a"), other, stageCase("c")}, clusters: 3},
		// a b c form one point, d another of the same layout: d takes
		// one of the point's three clusters.
		{name: "interleaved", order: scenarios.OrderInterleaved, cases: pointCases(), clusters: 3, injected: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes()
			f.residue, f.plain = tt.residue, tt.plain
			if tt.failing {
				f.fail, f.err = "verify", errors.New("boom")
			}
			opts := f.options()
			opts.Order, opts.ReuseClusters = tt.order, true
			out, err := New(opts).Run(t.Context(), tt.cases)
			if err != nil || len(out) != len(tt.cases) {
				t.Fatalf("Run = %d cases, %v; want %d, nil", len(out), err, len(tt.cases))
			}
			for i, c := range out {
				if want := !(tt.failing && i == 0); (c.Status == "ok") != want {
					t.Errorf("case %s: status %q (%s)", c.ID, c.Status, c.Error)
				}
			}
			injected, reused := 0, 0
			for _, c := range f.clusters {
				injected += c.injected
			}
			for _, c := range out {
				if c.ReusedCluster {
					reused++
				}
			}
			if reused != tt.injected {
				t.Errorf("%d cases say they reused a cluster, want %d", reused, tt.injected)
			}
			if len(f.clusters) != tt.clusters || injected != tt.injected {
				t.Errorf("created %d clusters, reused one %d times; want %d, %d", len(f.clusters), injected, tt.clusters, tt.injected)
			}
			f.checkTornDown(t)
		})
	}
}

// A spare cluster that cannot take the next datapath's injection is
// deleted, and the case gets a new one.
func TestStagesReuseInjectFails(t *testing.T) {
	f := newFakes()
	f.injectErr = errors.New("boom")
	opts := f.options()
	opts.ReuseClusters = true
	out, err := New(opts).Run(t.Context(), []scenarios.Case{stageCase("a"), stageCase("b")})
	if err != nil || len(out) != 2 || out[1].Status != "ok" {
		t.Fatalf("Run = %+v, %v; want two ok cases", out, err)
	}
	if len(f.clusters) != 2 {
		t.Errorf("created %d clusters, want 2", len(f.clusters))
	}
	f.checkTornDown(t)
}

// keepingProvider is a provider that keeps its clusters' nodes (kind's):
// it counts the calls of Keep and Close.
type keepingProvider struct {
	fakeProvider
	keeps, closes *int
}

func (p keepingProvider) Keep()                       { *p.keeps++ }
func (p keepingProvider) Close(context.Context) error { *p.closes++; return nil }

// With run.clusters: reuse, a provider that keeps nodes is asked to, and
// to delete them once at the end of the run, also after Ctrl-C; without
// it, or with --retain, it is never asked.
func TestKeeperClosedAtEnd(t *testing.T) {
	for _, tt := range []struct {
		name          string
		reuse, retain bool
		cancel        bool
		keeps, closes int
	}{
		{"reuse", true, false, false, 1, 1},
		{"reuse, cancelled", true, false, true, 1, 1},
		{"fresh", false, false, false, 0, 0},
		{"reuse, retained", true, true, false, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes()
			var keeps, closes int
			opts := f.options()
			opts.Provider = keepingProvider{fakeProvider{f}, &keeps, &closes}
			opts.ReuseClusters, opts.Retain = tt.reuse, tt.retain
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel {
				f.onMeasure = func(context.Context, int) error { cancel(); return ctx.Err() }
			}
			New(opts).Run(ctx, []scenarios.Case{stageCase("a"), stageCase("b")})
			if keeps != tt.keeps || closes != tt.closes {
				t.Errorf("Keep called %d times, Close %d; want %d and %d", keeps, closes, tt.keeps, tt.closes)
			}
		})
	}
}

// A search whose lowest rate fails fails its case with the reason, keeps
// the search, and the run goes on to the next case, whose search climbs
// until its errors pass the limit and whose repetitions then run at the
// highest rate that met the bounds.
func TestStageSearch(t *testing.T) {
	f := newFakes()
	f.searchFails = func(caseN int, rate float64) float64 {
		if caseN == 1 || rate > 400 {
			return 0.5
		}
		return 0
	}
	search := &scenarios.Search{From: 100, To: 1000, Factor: 2, Bisect: 0, MaxP99: "2x", MaxErrors: "1%", MinAchieved: "99%"}
	cases := []scenarios.Case{stageCase("a"), stageCase("b")}
	for i := range cases {
		cases[i].Rate, cases[i].Search = 0, search
	}
	out, err := New(f.options()).Run(t.Context(), cases)
	if err != nil || len(out) != 2 {
		t.Fatalf("Run = %d cases, %v; want both cases run", len(out), err)
	}
	a, b := out[0], out[1]
	if a.Status != "failed" || !strings.Contains(a.Error, "the lowest rate, 100 req/s, already fails: ") || !strings.Contains(a.Error, "errors 50%, above 1%") || a.Search == nil || len(a.Search.Steps) != 1 {
		t.Errorf("case a: %s (%s), search %+v; want failed at its lowest rate, with the search kept", a.Status, a.Error, a.Search)
	}
	if b.Status != "ok" || b.Search == nil || b.Search.HighestRPS != 400 || !strings.HasPrefix(b.Search.Stopped, "800 req/s failed: ") || !strings.Contains(b.Search.Stopped, "errors 50%") {
		t.Fatalf("case b: %s (%s), search %+v; want ok, highest 400 req/s, stopped at 800", b.Status, b.Error, b.Search)
	}
	// 100 ms at 400 req/s: 40 requests per repetition.
	for _, r := range b.Repetitions {
		if r.Requests != 40 {
			t.Errorf("repetition %d sent %d requests, want 40 (the highest rate for 100 ms)", r.Index, r.Requests)
		}
	}
	if b.Rate != 0 {
		t.Errorf("case b's rate = %g, want none: the point is the search", b.Rate)
	}
	f.checkTornDown(t)
}

// serialProvider's clusters share nodes, as kube's namespaces do.
type serialProvider struct{ fakeProvider }

func (serialProvider) Serial() bool { return true }

// On a provider whose clusters share nodes, an interleaved point runs its
// cases one after another, each measured whole, and says so.
func TestSerialProviderRunsSequentially(t *testing.T) {
	f := newFakes()
	opts := f.options()
	opts.Provider = serialProvider{fakeProvider{f}}
	opts.Order = scenarios.OrderInterleaved
	r := New(opts)
	if r.Order() != scenarios.OrderSequential {
		t.Errorf("Order() = %q, want sequential", r.Order())
	}
	if _, err := r.Run(t.Context(), pointCases()); err != nil {
		t.Fatalf("Run = %v", err)
	}
	// Sequential: each case's repetitions in one window, one case at a time.
	if got, want := strings.Join(f.measured, " "), "fake-0 fake-0 fake-1 fake-1 fake-2 fake-2 fake-3 fake-3"; got != want {
		t.Errorf("measured in %s, want %s", got, want)
	}
	f.checkTornDown(t)
}
