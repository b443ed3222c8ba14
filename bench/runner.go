package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/status"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// Service ports every workload uses: the service VIP port and the pods' port.
const (
	ServicePort = 80
	ServerPort  = 8080
)

// AppContainer is the container of a pod its workload runs in, apart from
// a sidecar's.
const AppContainer = clusters.AppContainer

// teardownTimeout bounds teardown, which runs even after cancellation.
const teardownTimeout = 30 * time.Second

// Provider creates the cases' clusters; every clusters.Provider is one.
type Provider interface {
	Create(ctx context.Context, spec clusters.Spec) (clusters.Cluster, error)
}

// Options configure a Runner.
type Options struct {
	Provider Provider
	// Datapaths are the datapaths the cases may name.
	Datapaths datapaths.Registry
	// Agents starts the workloads and the node agents; nil starts
	// `meshbench agent` processes in the cluster.
	Agents Agents

	Status *status.Printer
	// Dir is the run directory; samples are written below it.
	Dir string
	// RunID names what the run creates.
	RunID string
	// Retain keeps every case's cluster for inspection; its layout is
	// printed to Inspect.
	Retain  bool
	Inspect io.Writer
	// CaseDone, if set, is called after every case with the cases finished
	// so far, so that they can be kept before the run ends; an error from it
	// stops the run.
	CaseDone func(done []results.Case) error
}

// Interrupted is the status and error of a case cut short by cancellation.
const Interrupted = "interrupted"

// Runner runs the cases of one scenario.
type Runner struct {
	opts Options
	// ceilings are the load agent's ceilings the none datapath's rate
	// searches found, by point (searchKey).
	ceilings map[string]float64
}

// New returns a Runner.
func New(opts Options) *Runner {
	if opts.Status == nil {
		opts.Status = status.Discard()
	}
	if opts.Inspect == nil {
		opts.Inspect = io.Discard
	}
	if opts.Agents == nil {
		opts.Agents = procAgents{}
	}
	return &Runner{opts: opts, ceilings: map[string]float64{}}
}

// Run runs every case in order and returns one results.Case per case run.
// It stops early when ctx is cancelled, returning the cases finished so far
// with ctx's error, and when the provider cannot create a cluster because
// of its configuration (clusters.ErrConfig), which every case would meet:
// it then returns that error, the failed case included.
func (r *Runner) Run(ctx context.Context, cases []scenarios.Case) ([]results.Case, error) {
	var out []results.Case
	for i, c := range cases {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r.opts.Status.Case(i+1, len(cases), c.ID)
		rc, err := r.runCase(ctx, i, c)
		if ctx.Err() != nil && rc.Status != "ok" {
			// The case failed because the run was cancelled, not by itself.
			rc.Status, rc.Error = Interrupted, Interrupted
		}
		out = append(out, rc)
		if r.opts.CaseDone != nil {
			if cerr := r.opts.CaseDone(out); cerr != nil {
				return out, cerr
			}
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if errors.Is(err, clusters.ErrConfig) {
			return out, err
		}
	}
	return out, nil
}

// caseRun is the state shared by the stages of one case.
type caseRun struct {
	c       scenarios.Case
	index   int
	cluster clusters.Cluster
	dp      datapaths.Datapath
	servers []Server
	clients []Load
	// apps holds the workloads' cgroups per node, for cost accounting.
	apps map[string][]string
	// idle is the datapath's memory per node before any request.
	idle  map[string]float64
	costs []results.NodeCost
	path  *results.Path
	// search is the case's rate search, once it ran.
	search *results.Search
}

// runCase runs one case; a failed case is recorded in the result, and its
// error is returned too.
func (r *Runner) runCase(ctx context.Context, index int, c scenarios.Case) (results.Case, error) {
	rc := newResultCase(c, r.opts.Datapaths)
	cr := &caseRun{c: c, index: index}
	defer r.teardown(ctx, cr)

	reps, err := r.stages(ctx, cr)
	rc.Repetitions = reps
	if cr.search != nil {
		rc.Search = cr.search
	}
	if err != nil {
		rc.Status, rc.Error = "failed", err.Error()
		r.opts.Status.Infof("case failed: %v", err)
		return rc, err
	}
	rc.Status = "ok"
	rc.NodeCosts = cr.costs
	rc.Path = cr.path
	rc.LatencyUS, rc.AchievedRPS, rc.ErrorRate = results.Aggregate(reps)
	rc.ConnectUS = results.AggregateConnect(reps)
	rc.Stream = results.AggregateStream(reps)
	results.JudgeRate(&rc)
	for _, rep := range reps {
		rc.Requests += rep.Requests
	}
	return rc, nil
}

func (r *Runner) stages(ctx context.Context, cr *caseRun) (reps []results.Repetition, err error) {
	st := r.opts.Status
	defer func() { st.End(err == nil) }()

	if err := r.setup(ctx, cr); err != nil {
		return nil, err
	}
	if cr.c.Search != nil {
		cr.c.Rate = cr.c.Search.From // warm up at the search's lowest rate
	}

	st.Start("Sampling the datapath's memory before any request")
	if cr.idle, err = r.idleFootprint(ctx, cr); err != nil {
		return nil, fmt.Errorf("sample idle memory: %w", err)
	}

	if cr.c.Warmup > 0 {
		st.Start(fmt.Sprintf("Warming up for %s", cr.c.Warmup))
		if _, _, err := r.attack(ctx, cr, "warmup", cr.c.Warmup); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	} else {
		// Without a warm-up, verify still needs traffic to look at: every
		// client sends one request to each service, one after another.
		st.Start("Sending one request per service to verify the path")
		for _, cl := range cr.clients {
			if err := r.sequential(ctx, cl, "verify", cr.c.Services); err != nil {
				return nil, err
			}
		}
	}

	st.Start("Verifying the datapath is in the path")
	if err := r.verify(ctx, cr); err != nil {
		return nil, err
	}

	if cr.c.Search != nil {
		if err := r.search(ctx, cr); err != nil {
			return nil, err
		}
	}

	if reps, err = r.measure(ctx, cr); err != nil {
		return reps, err
	}

	if cr.c.ProbeRequests > 0 && cr.c.Protocol == scenarios.Stream {
		// Hops per request of a bulk transfer would be per segment.
		st.Infof("packet-path probe skipped: a stream has no requests to count hops per")
	} else if cr.c.ProbeRequests > 0 {
		st.Start(fmt.Sprintf("Probing the packet path (%d requests)", cr.c.ProbeRequests))
		path, err := r.probePath(ctx, cr)
		switch {
		case errors.Is(err, errNoProbe):
			st.Infof("packet-path probe skipped: %v", err)
		case err != nil:
			return reps, fmt.Errorf("packet-path probe: %w", err)
		}
		cr.path = path
	}
	return reps, nil
}

// measure runs the repetitions while the cost sampler watches every node.
// The datapath is verified again after each repetition, so a proxy that
// died mid-case fails the case.
func (r *Runner) measure(ctx context.Context, cr *caseRun) (reps []results.Repetition, err error) {
	sampler, err := startCostSampler(ctx, r.opts.Agents, cr.cluster, cr.dp, cr.apps)
	if err != nil {
		return nil, fmt.Errorf("start cost sampler: %w", err)
	}
	defer func() {
		var requests uint64
		for _, rep := range reps {
			requests += rep.Requests
		}
		costs, serr := sampler.stop(ctx, requests, results.StreamBytes(reps))
		if err == nil && serr != nil {
			err = fmt.Errorf("sample node costs: %w", serr)
		}
		if err == nil {
			for i := range costs {
				costs[i].DatapathIdleMemoryBytes = cr.idle[costs[i].Node]
			}
			cr.costs = costs
		}
	}()
	st := r.opts.Status
	for rep := range cr.c.Repetitions {
		what := fmt.Sprintf("%.0f req/s", cr.c.Rate)
		if cr.c.Protocol == scenarios.Stream {
			what = fmt.Sprintf("a stream on %d connections per client and service", cr.c.Connections)
		}
		st.Start(fmt.Sprintf("Measuring %s for %s, repetition %d/%d", what, cr.c.Duration, rep+1, cr.c.Repetitions))
		var before datapaths.PathCounters
		if cr.c.Protocol == scenarios.TCPCRR {
			if before, err = pathCounters(ctx, cr.dp); err != nil {
				return reps, fmt.Errorf("read datapath counters: %w", err)
			}
		}
		counts, err := readStreamCounts(ctx, cr)
		if err != nil {
			return reps, err
		}
		samples, planned, err := r.attack(ctx, cr, "measure", cr.c.Duration)
		if err != nil {
			return reps, fmt.Errorf("measure: %w", err)
		}
		waits, err := checkStream(ctx, cr, counts, samples)
		if err != nil {
			return reps, fmt.Errorf("verify stream in repetition %d: %w", rep+1, err)
		}
		if err := r.checkConnections(ctx, cr, before, samples); err != nil {
			return reps, fmt.Errorf("verify datapath %s in repetition %d: %w", cr.c.Datapath, rep+1, err)
		}
		var out results.Repetition
		if cr.c.Protocol == scenarios.Stream {
			out, err = streamRecord(rep, samples, waits)
		} else {
			out, err = r.record(cr, rep, samples, results.Plan{Requests: planned, Duration: cr.c.Duration})
		}
		if err != nil {
			return reps, err
		}
		reps = append(reps, out)
		if err := r.verifyDatapath(ctx, cr); err != nil {
			return reps, fmt.Errorf("verify datapath %s after repetition %d: %w", cr.c.Datapath, rep+1, err)
		}
	}
	return reps, nil
}

// checkConnections proves, for tcp-crr on a datapath that counts the
// connections it handles, that it handled the repetition's: every
// successful exchange opened a connection of its own, and none opened
// more than one, so the datapath's count must have grown by at least the
// successes and at most the exchanges sent.
func (r *Runner) checkConnections(ctx context.Context, cr *caseRun, before datapaths.PathCounters, samples []results.Sample) error {
	if _, ok := cr.dp.(datapaths.Counted); !ok || cr.c.Protocol != scenarios.TCPCRR {
		// A datapath without counters reads as zero before and after.
		return nil
	}
	after, err := pathCounters(ctx, cr.dp)
	if err != nil {
		return fmt.Errorf("read datapath counters: %w", err)
	}
	var ok uint64
	for _, s := range samples {
		if s.Error == "" {
			ok++
		}
	}
	got := after.Connections - before.Connections
	if got < ok || got > uint64(len(samples)) {
		return fmt.Errorf("tcp-crr made %d connections (%d of them succeeded), but the datapath took %d in hand: it must see each", len(samples), ok, got)
	}
	return nil
}

// setup creates the case's cluster, installs its datapath and deploys the
// workloads.
func (r *Runner) setup(ctx context.Context, cr *caseRun) error {
	st := r.opts.Status
	st.Start(fmt.Sprintf("Creating cluster (%d nodes, %d pods)", cr.c.Nodes, cr.c.ClientPods+cr.c.Services*cr.c.PodsPerService))
	if cr.c.Options.Mode == scenarios.ModeL7 && !scenarios.HTTPAware(protocol(cr.c)) {
		// Expand runs such a case at l4; the l7 proxy would fail it.
		return fmt.Errorf("mode l7 parses http1 only, not %s: run the case at l4", cr.c.Protocol)
	}
	spec, err := clusterSpec(r.opts.RunID, cr.index, cr.c)
	if err != nil {
		return err
	}
	if cr.dp, err = r.opts.Datapaths.New(cr.c.Datapath, cr.c.Options); err != nil {
		return err
	}
	if inj, ok := cr.dp.(datapaths.Injector); ok {
		spec.Inject = inj.Injection(spec)
	}
	if cr.cluster, err = r.opts.Provider.Create(ctx, spec); err != nil {
		return fmt.Errorf("create cluster: %w", err)
	}

	st.Start("Installing datapath " + cr.c.Datapath)
	if err := cr.dp.Install(ctx, cr.cluster); err != nil {
		return fmt.Errorf("install datapath %s: %w", cr.c.Datapath, err)
	}

	st.Start("Deploying workloads")
	return r.deploy(ctx, cr)
}

// clusterSpec lays out the case's services: the client service on node 0,
// the servers where the placement rule puts them.
func clusterSpec(runID string, index int, c scenarios.Case) (clusters.Spec, error) {
	podCIDR, err := netip.ParsePrefix(c.PodCIDR)
	if err != nil {
		return clusters.Spec{}, fmt.Errorf("parse pod CIDR: %w", err)
	}
	svcCIDR, err := netip.ParsePrefix(c.ServiceCIDR)
	if err != nil {
		return clusters.Spec{}, fmt.Errorf("parse service CIDR: %w", err)
	}
	spec := clusters.Spec{
		RunID:       runID + strconv.Itoa(index),
		Nodes:       c.Nodes,
		PodCIDR:     podCIDR,
		ServiceCIDR: svcCIDR,
	}
	spec.Services = append(spec.Services, clusters.ServiceSpec{
		Name: "client", Role: "client", Port: ServicePort, TargetPort: ServerPort,
		PodNodes: make([]int, c.ClientPods),
	})
	for i, nodes := range scenarios.PlacePods(c.Nodes, c.Placement, c.Services, c.PodsPerService) {
		spec.Services = append(spec.Services, clusters.ServiceSpec{
			Name: fmt.Sprintf("svc-%03d", i), Role: "server", Port: ServicePort, TargetPort: ServerPort,
			PodNodes: nodes,
		})
	}
	return spec, nil
}

// deploy starts an echo server in every server pod and a load agent in every
// client pod, aimed at every server service's virtual IP.
func (r *Runner) deploy(ctx context.Context, cr *caseRun) error {
	topo := cr.cluster.Topology()
	cr.apps = map[string][]string{}
	var targets []string
	for _, svc := range topo.Services {
		if svc.Role != "server" {
			continue
		}
		targets = append(targets, "http://"+netip.AddrPortFrom(svc.VIP, uint16(svc.Port)).String()+"/")
		for _, name := range svc.Pods {
			pod, _ := topo.Pod(name)
			cr.apps[pod.Node] = append(cr.apps[pod.Node], pod.ContainerCgroup(AppContainer))
			s, err := r.opts.Agents.StartServer(ctx, cr.cluster, pod, agent.ServerOptions{
				Listen:        ":" + strconv.Itoa(ServerPort),
				Protocol:      protocol(cr.c),
				RequestBytes:  cr.c.RequestBytes,
				ResponseBytes: cr.c.ResponseBytes,
				ServiceTime:   cr.c.ServiceTime,
			})
			if err != nil {
				return err
			}
			cr.servers = append(cr.servers, s)
		}
	}
	for _, svc := range topo.Services {
		if svc.Role != "client" {
			continue
		}
		for _, name := range svc.Pods {
			pod, _ := topo.Pod(name)
			cr.apps[pod.Node] = append(cr.apps[pod.Node], pod.ContainerCgroup(AppContainer))
			l, err := r.opts.Agents.StartLoad(ctx, cr.cluster, pod, agent.LoadOptions{
				Targets:       targets,
				Protocol:      protocol(cr.c),
				Connections:   cr.c.Connections,
				RequestBytes:  cr.c.RequestBytes,
				ResponseBytes: cr.c.ResponseBytes,
				Workers:       agent.DefaultWorkers,
				Timeout:       agent.DefaultTimeout,
			})
			if err != nil {
				return err
			}
			cr.clients = append(cr.clients, l)
		}
	}
	if len(cr.clients) == 0 || len(cr.servers) == 0 {
		return errors.New("deploy workloads: the case has no client or no server pods")
	}
	return nil
}

// attackMargin is how long past an attack's deadline (agent.Deadline) the
// runner waits for its agents to report, should one of them hang.
const attackMargin = 10 * time.Second

// attack runs one open-loop attack from every client at an equal share of the
// case's rate and returns all samples and how many requests were planned. It
// fails when no request succeeded, as through a datapath that black-holes
// traffic, which the agents cut off at the attack's deadline.
func (r *Runner) attack(ctx context.Context, cr *caseRun, tag string, d time.Duration) ([]results.Sample, uint64, error) {
	type result struct {
		samples []results.Sample
		done    wire.Done
		err     error
	}
	ctx, cancel := context.WithTimeout(ctx, agent.Deadline(d)+attackMargin)
	defer cancel()
	expected := cr.c.Rate * d.Seconds()
	progress := make(chan int, 64)
	outcomes := make(chan result, len(cr.clients))
	for _, cl := range cr.clients {
		go func() {
			var got []results.Sample
			done, err := cl.Attack(ctx, wire.Attack{Tag: tag, Rate: cr.c.Rate / float64(len(cr.clients)), Duration: d},
				func(s []results.Sample) {
					got = append(got, s...)
					for i := range s {
						r.opts.Status.Record(s[i].Latency, !succeeded(s[i]))
					}
					select {
					case progress <- len(s):
					default:
					}
				})
			outcomes <- result{got, done, err}
		}()
	}
	var all []results.Sample
	var planned uint64
	var errs []error
	seen := 0
	for pending := len(cr.clients); pending > 0; {
		select {
		case n := <-progress:
			seen += n
			r.opts.Status.Progress(float64(seen) / expected)
		case res := <-outcomes:
			pending--
			all = append(all, res.samples...)
			planned += res.done.Planned
			errs = append(errs, res.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	for _, s := range cr.servers {
		if err := s.Alive(); err != nil {
			return nil, 0, err
		}
	}
	if err := noneSucceeded(all, planned, d); err != nil {
		return nil, 0, err
	}
	return all, planned, nil
}

// noneSucceeded returns an error, with the first request's failure, when
// no sample succeeded.
func noneSucceeded(samples []results.Sample, planned uint64, d time.Duration) error {
	for _, s := range samples {
		if succeeded(s) {
			return nil
		}
	}
	why := "none was sent"
	if len(samples) > 0 {
		why = fmt.Sprintf("%d sent, all failed (first: %s)", len(samples), sampleFailure(samples[0]))
	}
	return fmt.Errorf("no request succeeded by the attack's deadline of %s: %d planned, %s", agent.Deadline(d), planned, why)
}

// succeeded reports whether a request got a 2xx response.
func succeeded(s results.Sample) bool { return s.Error == "" && s.Code >= 200 && s.Code <= 299 }

func sampleFailure(s results.Sample) string {
	if s.Error != "" {
		return s.Error
	}
	return "http status " + strconv.Itoa(int(s.Code))
}

// verify proves the workloads talk: the servers must have answered the
// requests the clients counted as successful, each tcp-crr exchange on a
// connection of its own, then the datapath proves it is in the path.
func (r *Runner) verify(ctx context.Context, cr *caseRun) error {
	var served, conns uint64
	for _, s := range cr.servers {
		n, c, err := s.Served(ctx)
		if err != nil {
			return fmt.Errorf("read server counters: %w", err)
		}
		served, conns = served+n, conns+c
	}
	if served == 0 {
		return errors.New("no request reached any server: the cluster's service routing is broken")
	}
	if cr.c.Protocol == scenarios.TCPCRR && conns < served {
		return fmt.Errorf("tcp-crr: the servers answered %d exchanges on %d connections, want a connection per exchange: something on the path reuses connections", served, conns)
	}
	if err := r.verifyDatapath(ctx, cr); err != nil {
		return fmt.Errorf("verify datapath %s: %w", cr.c.Datapath, err)
	}
	return nil
}

// verifyDatapath has the datapath prove that all the connections the load
// agents opened so far went through it.
func (r *Runner) verifyDatapath(ctx context.Context, cr *caseRun) error {
	var t datapaths.Traffic
	for _, cl := range cr.clients {
		n, err := cl.Connections(ctx)
		if err != nil {
			return fmt.Errorf("read load agent counters: %w", err)
		}
		t.Connections += n
	}
	return cr.dp.Verify(ctx, t)
}

// record summarises one repetition and keeps its raw samples.
func (r *Runner) record(cr *caseRun, rep int, samples []results.Sample, plan results.Plan) (results.Repetition, error) {
	out, err := results.Summarize(samples, plan)
	if err != nil {
		return out, fmt.Errorf("summarise repetition %d: %w", rep+1, err)
	}
	out.Index = rep
	if r.opts.Dir != "" {
		rel, err := results.WriteSamples(r.opts.Dir, cr.c.ID, rep, samples)
		if err != nil {
			return out, fmt.Errorf("keep samples: %w", err)
		}
		out.Samples = rel
	}
	return out, nil
}

// teardown stops the agents, uninstalls the datapath and deletes the
// cluster, with a context of its own so that it also runs after Ctrl-C.
func (r *Runner) teardown(ctx context.Context, cr *caseRun) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	st := r.opts.Status
	var wg sync.WaitGroup
	for _, l := range cr.clients {
		wg.Go(l.Close)
	}
	for _, s := range cr.servers {
		wg.Go(s.Close)
	}
	wg.Wait()
	if cr.cluster == nil {
		return
	}
	if r.opts.Retain {
		st.Start(fmt.Sprintf("Retaining cluster (remove it with `meshbench cleanup --run %s`)", r.opts.RunID))
		printTopology(r.opts.Inspect, cr.c.ID, cr.cluster.Topology())
		st.End(true)
		return
	}
	st.Start("Deleting cluster")
	var errs []error
	if cr.dp != nil {
		errs = append(errs, cr.dp.Uninstall(tctx))
	}
	errs = append(errs, cr.cluster.Delete(tctx))
	err := errors.Join(errs...)
	st.End(err == nil)
	if err != nil {
		st.Infof("teardown: %v (run `meshbench cleanup --run %s` to remove what is left)", err, r.opts.RunID)
	}
}

func newResultCase(c scenarios.Case, dps datapaths.Registry) results.Case {
	rc := results.Case{
		ID:            c.ID,
		Datapath:      c.Datapath,
		Protocol:      protocol(c),
		Placement:     c.Placement,
		NodeCount:     c.Nodes,
		Services:      c.Services,
		Pods:          c.ClientPods + c.Services*c.PodsPerService,
		Rate:          c.Rate,
		DurationS:     c.Duration.Seconds(),
		Connections:   c.Connections,
		RequestBytes:  c.RequestBytes,
		ResponseBytes: c.ResponseBytes,
	}
	if c.Search != nil {
		// Replaced by the search once it ran; a case that fails before
		// keeps its bounds.
		b := c.Search.Bounds()
		rc.Search = &results.Search{MaxP99Ratio: b.MaxP99, MaxErrorRate: b.MaxErrors, MinAchievedFraction: b.MinAchieved}
	}
	// The options are a proxy's: a datapath without one has none to record.
	if k, ok := dps.Lookup(c.Datapath); ok && k.Proxy {
		rc.Mode, rc.MTLS, rc.Proxy = c.Options.Mode, c.Options.MTLS, c.Options.Proxy
		rc.L7Fallback = c.L7Fallback
	}
	return rc
}

// protocol is c's protocol; a case built in code without one runs http1,
// as the agents do.
func protocol(c scenarios.Case) string { return cmp.Or(c.Protocol, scenarios.HTTP1) }

func printTopology(w io.Writer, caseID string, t *clusters.Topology) {
	fmt.Fprintf(w, "cluster %s (case %s)\n", t.Name, caseID)
	for _, n := range t.Nodes {
		fmt.Fprintf(w, "  node %-24s ip %-15s pods %-18s netns %s\n", n.Name, n.IP, n.PodCIDR, n.NetNS)
	}
	for _, p := range t.Pods {
		fmt.Fprintf(w, "  pod  %-24s ip %-15s node %-24s netns %s\n", p.Name, p.IP, p.Node, p.NetNS)
	}
	for _, s := range t.Services {
		fmt.Fprintf(w, "  service %-21s vip %s:%d -> %d pods\n", s.Name, s.VIP, s.Port, len(s.Pods))
	}
}
