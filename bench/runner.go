package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
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
	// Order is scenarios.OrderInterleaved or scenarios.OrderSequential,
	// which empty means too; see Run. (Scenarios default to interleaved.)
	// A clusters.Serial provider's cases run sequentially whatever it
	// says; Runner.Order is the order that runs.
	Order string
	// ReuseClusters hands a case's cluster to a later case of the same
	// layout, where the cluster can take it (clusters.Reusable) and its
	// datapath left nothing behind; otherwise every case gets a cluster
	// of its own.
	ReuseClusters bool
	// CaseDone, if set, is called after every case with the cases finished
	// so far, so that they can be kept before the run ends; an error from it
	// stops the run.
	CaseDone func(done []results.Case) error
}

// Interrupted is the status and error of a case cut short by cancellation.
const Interrupted = "interrupted"

// Unsupported is the status of a case this machine cannot run (its error
// wraps datapaths.ErrUnsupported and says what is missing); the run goes on.
const Unsupported = "unsupported"

// Runner runs the cases of one scenario.
type Runner struct {
	opts Options
	// spares are clusters whose cases are done, kept for a later case of
	// the same layout (Options.ReuseClusters).
	spares []spare
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
	if s, ok := opts.Provider.(clusters.Serial); ok && s.Serial() {
		// Interleaved, a point's clusters would be up at once.
		opts.Order = scenarios.OrderSequential
	}
	return &Runner{opts: opts, ceilings: map[string]float64{}}
}

// Order is the order the cases run in: Options.Order, but sequential on a
// clusters.Serial provider.
func (r *Runner) Order() string { return r.opts.Order }

// Run runs every case and returns one results.Case per case run, in the
// cases' order. In Options.Order OrderInterleaved, the cases of one point
// (consecutive cases that differ only in their datapath) are set up
// together and their repetitions run round-robin; otherwise each case runs
// to its end before the next starts. Run stops early when ctx is
// cancelled, returning the cases finished so far, and the point's cut
// short, with ctx's error; and when the provider cannot create a cluster
// because of its configuration (clusters.ErrConfig), which every case
// would meet: it then returns that error, the failed case included.
func (r *Runner) Run(ctx context.Context, cases []scenarios.Case) ([]results.Case, error) {
	if k, ok := r.opts.Provider.(clusters.Keeper); ok && r.opts.ReuseClusters && !r.opts.Retain {
		// Its nodes outlive the cases that deleted their clusters.
		k.Keep()
		defer r.closeKept(ctx, k)
	}
	defer r.dropSpares(ctx)
	var out []results.Case
	for _, group := range r.groups(cases) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		rcs, err := r.runGroup(ctx, group, len(cases))
		for _, rc := range rcs {
			out = append(out, rc)
			if r.opts.CaseDone != nil {
				if cerr := r.opts.CaseDone(out); cerr != nil {
					return out, cerr
				}
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

// indexed is a case with its index in the run.
type indexed struct {
	i int
	c scenarios.Case
}

// groups splits the cases into the groups that run together: one case
// each, or in interleaved order the cases of each point.
func (r *Runner) groups(cases []scenarios.Case) [][]indexed {
	var out [][]indexed
	for i, c := range cases {
		if n := len(out); n > 0 && r.opts.Order == scenarios.OrderInterleaved && samePoint(out[n-1][0].c, c) {
			out[n-1] = append(out[n-1], indexed{i, c})
			continue
		}
		out = append(out, []indexed{{i, c}})
	}
	return out
}

// samePoint reports whether a and b are cases of one point of the matrix:
// equal but for their datapath.
func samePoint(a, b scenarios.Case) bool {
	a.ID, a.Datapath, a.Options, a.L7Fallback = "", "", scenarios.DatapathOptions{}, false
	b.ID, b.Datapath, b.Options, b.L7Fallback = "", "", scenarios.DatapathOptions{}, false
	return a == b
}

// runGroup runs a group of cases: each is set up (cluster, datapath,
// workloads, warm-up, verify), then their repetitions run, round-robin
// over the cases one repetition at a time when there are several, then
// each is probed and torn down. A case that fails is torn down at once and
// the others go on. It returns the group's results in order and the first
// configuration error (clusters.ErrConfig), after which no further case of
// the group is set up.
func (r *Runner) runGroup(ctx context.Context, group []indexed, total int) ([]results.Case, error) {
	crs := make([]*caseRun, 0, len(group))
	defer func() {
		for _, cr := range crs {
			r.teardown(ctx, cr)
		}
	}()
	fail := func(cr *caseRun, err error) {
		cr.err = err
		r.opts.Status.Infof("case %s failed: %v", cr.c.ID, err)
		r.teardown(ctx, cr)
	}
	var cfgErr error
	for _, g := range group {
		if ctx.Err() != nil || cfgErr != nil {
			break
		}
		r.opts.Status.Case(g.i+1, total, g.c.ID)
		cr := &caseRun{c: g.c, index: g.i}
		crs = append(crs, cr)
		if err := r.prepare(ctx, cr); err != nil {
			fail(cr, err)
			if errors.Is(err, clusters.ErrConfig) {
				cfgErr = err
			}
		}
	}
	r.dropSpares(ctx)

	// One case measures all its repetitions in one window; several take
	// turns, a repetition each.
	window := 1
	if len(crs) == 1 {
		window = crs[0].c.Repetitions
	}
	reps := 0
	for _, cr := range crs {
		reps = max(reps, cr.c.Repetitions)
	}
	for from := 0; from < reps && ctx.Err() == nil; from += window {
		for _, cr := range crs {
			if cr.err != nil || from >= cr.c.Repetitions || ctx.Err() != nil {
				continue
			}
			if len(crs) > 1 {
				r.opts.Status.Infof("%s: repetition %d/%d", cr.c.ID, from+1, cr.c.Repetitions)
			}
			if err := r.measure(ctx, cr, from, min(from+window, cr.c.Repetitions)); err != nil {
				fail(cr, err)
			}
		}
	}
	for _, cr := range crs {
		if cr.err != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			cr.err = err
			continue
		}
		if err := r.finish(ctx, cr); err != nil {
			fail(cr, err)
			continue
		}
		r.teardown(ctx, cr)
	}

	out := make([]results.Case, 0, len(crs))
	for _, cr := range crs {
		rc := r.result(cr)
		if ctx.Err() != nil && rc.Status != "ok" {
			// The case failed because the run was cancelled, not by itself.
			rc.Status, rc.Error = Interrupted, Interrupted
		}
		out = append(out, rc)
	}
	return out, cfgErr
}

// caseRun is the state shared by the stages of one case.
type caseRun struct {
	c       scenarios.Case
	index   int
	cluster clusters.Cluster
	// layout is the cluster's (see layout), for reusing it; reused is
	// set when the cluster is an earlier case's.
	layout  string
	reused  bool
	dp      datapaths.Datapath
	servers []Server
	clients []Load
	// apps holds the workloads' cgroups per node, for cost accounting.
	apps map[string][]string
	// idle is the datapath's memory per node before any request.
	idle map[string]float64
	// reps are the repetitions measured so far; windows holds the node
	// costs of each measured window of repetitions.
	reps    []results.Repetition
	windows [][]results.NodeCost
	// bytes is the payload the repetitions moved (PayloadBytes, or a
	// stream's bytes), which CPU per GiB divides by.
	bytes uint64
	path  *results.Path
	// targets are the load's URLs, one per server service.
	targets []string
	// unmeshed are the unmeshed sources' load agents; sources every
	// traffic source, the meshed client first; coverage what the
	// datapath saw of each.
	unmeshed []Load
	sources  []*source
	coverage *results.Coverage
	// enrolment is an enrolment case's figures; replaced are the servers
	// of the pods its rolling replacement deleted, for teardown.
	enrolment *results.Enrolment
	replaced  []Server
	// err is why the case failed; torn is set once it is torn down.
	err  error
	torn bool
	// search is the case's rate search, once it ran.
	search *results.Search
}

// result is the case's record: its repetitions, and when it succeeded
// its aggregates, costs and path. A case failed for want of something the
// machine lacks is unsupported.
func (r *Runner) result(cr *caseRun) results.Case {
	rc := newResultCase(cr.c, r.opts.Datapaths)
	rc.Repetitions, rc.ReusedCluster = cr.reps, cr.reused
	if cr.search != nil {
		// The point is the search: the rate it found is in it.
		rc.Search, rc.Rate = cr.search, 0
	}
	if e, ok := cr.dp.(datapaths.Encrypted); ok {
		rc.EncryptionImplementation = e.Encryption().Implementation
	}
	if cr.err != nil {
		rc.Status, rc.Error = "failed", cr.err.Error()
		if errors.Is(cr.err, datapaths.ErrUnsupported) {
			rc.Status = Unsupported
		}
		return rc
	}
	rc.Status = "ok"
	for _, rep := range cr.reps {
		rc.Requests += rep.Requests
	}
	rc.NodeCosts = mergeCosts(cr.windows, rc.Requests, cr.bytes)
	for i := range rc.NodeCosts {
		rc.NodeCosts[i].DatapathIdleMemoryBytes = cr.idle[rc.NodeCosts[i].Node]
	}
	rc.Path = cr.path
	rc.Coverage = cr.coverage
	rc.Enrolment = cr.enrolment
	rc.LatencyUS, rc.AchievedRPS, rc.ErrorRate = results.Aggregate(cr.reps)
	rc.ConnectUS = results.AggregateConnect(cr.reps)
	rc.Stream = results.AggregateStream(cr.reps)
	results.JudgeRate(&rc)
	return rc
}

// prepare sets the case up to the point where it can measure: cluster,
// datapath and workloads, the idle footprint, the warm-up and the proof
// that the datapath is in the path.
func (r *Runner) prepare(ctx context.Context, cr *caseRun) (err error) {
	st := r.opts.Status
	defer func() { st.End(err == nil) }()

	if err := r.setup(ctx, cr); err != nil {
		return err
	}
	if cr.c.Search != nil {
		cr.c.Rate = cr.c.Search.From // warm up at the search's lowest rate
	}

	if !enrolling(cr.c) {
		// An enrolment case has no datapath yet.
		st.Start("Sampling the datapath's memory before any request")
		if cr.idle, err = r.idleFootprint(ctx, cr); err != nil {
			return fmt.Errorf("sample idle memory: %w", err)
		}
	}

	if cr.c.Warmup > 0 {
		st.Start(fmt.Sprintf("Warming up for %s", cr.c.Warmup))
		if _, _, err := r.attack(ctx, cr, "warmup", cr.c.Warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	} else {
		// Without a warm-up, verify still needs traffic to look at: every
		// client sends one request to each service, one after another.
		st.Start("Sending one request per service to verify the path")
		for _, cl := range cr.clients {
			if err := r.sequential(ctx, cl, "verify", cr.c.Services); err != nil {
				return err
			}
		}
	}

	if enrolling(cr.c) {
		st.Start("Verifying the unmeshed cluster serves")
		return r.served(ctx, cr)
	}
	st.Start("Verifying the datapath is in the path")
	if err := r.verify(ctx, cr); err != nil {
		return err
	}
	if cr.c.Search != nil {
		// The search finds the rate the repetitions then measure at.
		return r.search(ctx, cr)
	}
	return nil
}

// finish probes the case's packet path, then measures its coverage.
func (r *Runner) finish(ctx context.Context, cr *caseRun) error {
	if err := r.probe(ctx, cr); err != nil {
		return err
	}
	if cr.c.Unmeshed == nil {
		return nil
	}
	// Last: it ends the load agents, whose connections' bytes an l4 proxy
	// counts as they close.
	st := r.opts.Status
	st.Start(fmt.Sprintf("Measuring coverage: meshed and unmeshed sources send for %s", cr.c.Duration))
	cov, err := r.coverage(ctx, cr)
	st.End(err == nil)
	if err != nil {
		return fmt.Errorf("coverage: %w", err)
	}
	cr.coverage = cov
	return nil
}

// probe probes the case's packet path.
func (r *Runner) probe(ctx context.Context, cr *caseRun) (err error) {
	if cr.c.ProbeRequests <= 0 {
		return nil
	}
	st := r.opts.Status
	if cr.c.Protocol == scenarios.Stream {
		// Hops per request of a bulk transfer would be per segment.
		st.Infof("packet-path probe skipped: a stream has no requests to count hops per")
		return nil
	}
	defer func() { st.End(err == nil) }()
	st.Start(fmt.Sprintf("Probing the packet path (%d requests)", cr.c.ProbeRequests))
	path, err := r.probePath(ctx, cr)
	switch {
	case errors.Is(err, errNoProbe):
		st.Infof("packet-path probe skipped: %v", err)
	case err != nil:
		return fmt.Errorf("packet-path probe: %w", err)
	}
	cr.path = path
	return nil
}

// measure runs repetitions from up to (not including) to while the cost
// sampler watches every node, adding them and the window's node costs to
// the case. The datapath is verified again after each repetition, so a
// proxy that died mid-case fails the case.
func (r *Runner) measure(ctx context.Context, cr *caseRun, from, to int) (err error) {
	if enrolling(cr.c) {
		return r.enrol(ctx, cr)
	}
	st := r.opts.Status
	defer func() { st.End(err == nil) }()
	sampler, err := startCostSampler(ctx, r.opts.Agents, cr.cluster, cr.dp, cr.apps)
	if err != nil {
		return fmt.Errorf("start cost sampler: %w", err)
	}
	var requests, bytes uint64
	defer func() {
		cr.bytes += bytes
		costs, serr := sampler.stop(ctx, requests, bytes)
		if err == nil && serr != nil {
			err = fmt.Errorf("sample node costs: %w", serr)
		}
		if err == nil {
			cr.windows = append(cr.windows, costs)
		}
	}()
	for rep := from; rep < to; rep++ {
		what := fmt.Sprintf("%.0f req/s", cr.c.Rate)
		if cr.c.Protocol == scenarios.Stream {
			what = fmt.Sprintf("a stream on %d connections per client and service", cr.c.Connections)
		}
		st.Start(fmt.Sprintf("Measuring %s for %s, repetition %d/%d", what, cr.c.Duration, rep+1, cr.c.Repetitions))
		var before datapaths.PathCounters
		if cr.c.Protocol == scenarios.TCPCRR {
			if before, err = pathCounters(ctx, cr.dp); err != nil {
				return fmt.Errorf("read datapath counters: %w", err)
			}
		}
		counts, err := readStreamCounts(ctx, cr)
		if err != nil {
			return err
		}
		samples, planned, err := r.attack(ctx, cr, "measure", cr.c.Duration)
		if err != nil {
			return fmt.Errorf("measure: %w", err)
		}
		waits, err := checkStream(ctx, cr, counts, samples)
		if err != nil {
			return fmt.Errorf("verify stream in repetition %d: %w", rep+1, err)
		}
		if err := r.checkConnections(ctx, cr, before, samples); err != nil {
			return fmt.Errorf("verify datapath %s in repetition %d: %w", cr.c.Datapath, rep+1, err)
		}
		var out results.Repetition
		if cr.c.Protocol == scenarios.Stream {
			out, err = streamRecord(rep, samples, waits)
		} else {
			out, err = r.record(cr, rep, samples, results.Plan{Requests: planned, Duration: cr.c.Duration})
		}
		if err != nil {
			return err
		}
		cr.reps = append(cr.reps, out)
		requests += out.Requests
		if out.Stream != nil {
			bytes += out.Stream.Bytes
		} else {
			bytes += results.PayloadBytes(samples, cr.c.RequestBytes)
		}
		if err := r.verifyDatapath(ctx, cr); err != nil {
			return fmt.Errorf("verify datapath %s after repetition %d: %w", cr.c.Datapath, rep+1, err)
		}
	}
	return nil
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
	if cr.c.Options.Mode == scenarios.ModeL7 && !scenarios.HTTPAware(protocol(cr.c)) {
		// Expand runs such a case at l4; the l7 proxy would fail it.
		return fmt.Errorf("mode l7 parses HTTP only, not %s: run the case at l4", cr.c.Protocol)
	}
	spec, err := clusterSpec(r.opts.RunID, cr.index, cr.c)
	if err != nil {
		return err
	}
	if cr.dp, err = r.opts.Datapaths.New(cr.c.Datapath, cr.c.Options); err != nil {
		return err
	}
	if cr.cluster, err = r.cluster(ctx, cr, spec); err != nil {
		return err
	}

	if enrolling(cr.c) {
		st.Infof("datapath %s is installed %s into the load, into the running cluster", cr.c.Datapath, cr.c.EnrolAfter)
	} else {
		st.Start("Installing datapath " + cr.c.Datapath)
		if err := cr.dp.Install(ctx, cr.cluster); err != nil {
			return fmt.Errorf("install datapath %s: %w", cr.c.Datapath, err)
		}
	}

	st.Start("Deploying workloads")
	if err := r.deploy(ctx, cr); err != nil {
		return err
	}
	if cr.c.Unmeshed != nil {
		// Started with the workloads, as pods and node processes are
		// there before anything measures them; they idle until coverage.
		st.Start("Starting the unmeshed sources")
		return r.startSources(ctx, cr)
	}
	return nil
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
	labelSources(&spec, c)
	if c.EnrolAfter > 0 {
		// Unmeshed until the enrolment labels the namespace.
		spec.NamespaceLabels = map[string]string{clusters.InjectLabel: "false"}
	}
	return spec, nil
}

// deploy starts an echo server in every server pod and a load agent in every
// client pod, aimed at every server service's virtual IP.
func (r *Runner) deploy(ctx context.Context, cr *caseRun) error {
	topo := cr.cluster.Topology()
	cr.apps = map[string][]string{}
	for _, svc := range topo.Services {
		if svc.Role != "server" {
			continue
		}
		cr.targets = append(cr.targets, "http://"+netip.AddrPortFrom(svc.VIP, uint16(svc.Port)).String()+"/")
		for _, name := range svc.Pods {
			pod, _ := topo.Pod(name)
			cr.apps[pod.Node] = append(cr.apps[pod.Node], pod.ContainerCgroup(AppContainer))
			s, err := r.opts.Agents.StartServer(ctx, cr.cluster, pod, serverOptions(cr.c))
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
			l, err := r.opts.Agents.StartLoad(ctx, cr.cluster, pod, loadOptions(cr.c, cr.targets))
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

// serverOptions are the options of every echo server of case c.
func serverOptions(c scenarios.Case) agent.ServerOptions {
	return agent.ServerOptions{
		Listen:        ":" + strconv.Itoa(ServerPort),
		Protocol:      protocol(c),
		RequestBytes:  c.RequestBytes,
		ResponseBytes: c.ResponseBytes,
		ServiceTime:   c.ServiceTime,
	}
}

// loadOptions are the options of every load agent of case c, meshed or
// not, aimed at targets.
func loadOptions(c scenarios.Case, targets []string) agent.LoadOptions {
	return agent.LoadOptions{
		Targets:            targets,
		Protocol:           protocol(c),
		Client:             c.Client,
		Connections:        c.Connections,
		ConnectionRequests: c.ConnectionRequests,
		RequestBytes:       c.RequestBytes,
		ResponseBytes:      c.ResponseBytes,
		Workers:            agent.DefaultWorkers,
		Timeout:            agent.DefaultTimeout,
	}
}

// attackMargin is how long past an attack's deadline (agent.Deadline) the
// runner waits for its agents to report, should one of them hang.
const attackMargin = 10 * time.Second

// attack runs one open-loop attack from every client at an equal share of the
// case's rate and returns all samples and how many requests were planned. It
// fails when no request succeeded, as through a datapath that black-holes
// traffic, which the agents cut off at the attack's deadline.
func (r *Runner) attack(ctx context.Context, cr *caseRun, tag string, d time.Duration) ([]results.Sample, uint64, error) {
	all, planned, err := r.attackClients(ctx, cr, tag, d)
	if err == nil {
		err = r.alive(cr, all, planned, d)
	}
	if err != nil {
		return nil, 0, err
	}
	return all, planned, nil
}

// alive fails an attack after which a server died or no request succeeded.
func (r *Runner) alive(cr *caseRun, all []results.Sample, planned uint64, d time.Duration) error {
	for _, s := range cr.servers {
		if err := s.Alive(); err != nil {
			return err
		}
	}
	return noneSucceeded(all, planned, d)
}

// attackClients runs the attack of attack, without checking its outcome.
func (r *Runner) attackClients(ctx context.Context, cr *caseRun, tag string, d time.Duration) ([]results.Sample, uint64, error) {
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
	if err := r.served(ctx, cr); err != nil {
		return err
	}
	if err := r.verifyDatapath(ctx, cr); err != nil {
		return fmt.Errorf("verify datapath %s: %w", cr.c.Datapath, err)
	}
	return nil
}

// served proves the servers answered: some requests reached them, each
// tcp-crr exchange on a connection of its own.
func (r *Runner) served(ctx context.Context, cr *caseRun) error {
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
	return nil
}

// verifyDatapath has the datapath prove that all the traffic the load
// agents sent so far went through it.
func (r *Runner) verifyDatapath(ctx context.Context, cr *caseRun) error {
	t, err := r.sent(ctx, cr)
	if err != nil {
		return err
	}
	return cr.dp.Verify(ctx, t)
}

// sent is what the case's load agents sent since they started.
func (r *Runner) sent(ctx context.Context, cr *caseRun) (datapaths.Traffic, error) {
	var t datapaths.Traffic
	for _, cl := range cr.clients {
		n, err := cl.Sent(ctx)
		if err != nil {
			return t, fmt.Errorf("read load agent counters: %w", err)
		}
		t.Connections += n.Connections
		t.Requests += n.Requests
		t.Failed += n.Failed
	}
	return t, nil
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
// cluster or keeps it for a later case (see keep), with a context of its
// own so that it also runs after Ctrl-C. It runs once per case.
func (r *Runner) teardown(ctx context.Context, cr *caseRun) {
	if cr.torn {
		return
	}
	cr.torn = true
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	st := r.opts.Status
	var wg sync.WaitGroup
	for _, l := range slices.Concat(cr.clients, cr.unmeshed) {
		wg.Go(l.Close)
	}
	for _, s := range slices.Concat(cr.servers, cr.replaced) {
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
	var uerr error
	if cr.dp != nil {
		uerr = cr.dp.Uninstall(tctx)
	}
	if uerr == nil && r.keep(tctx, cr) {
		return
	}
	r.delete(tctx, cr.cluster, uerr)
}

func newResultCase(c scenarios.Case, dps datapaths.Registry) results.Case {
	rc := results.Case{
		ID:            c.ID,
		Datapath:      cmp.Or(c.Variant, c.Datapath),
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
		Encryption:    c.Options.Encryption,
		EnrolAfterS:   c.EnrolAfter.Seconds(),
	}
	if rc.Protocol == scenarios.HTTP1 || rc.Protocol == scenarios.H2C {
		rc.LoadClient = cmp.Or(c.Client, scenarios.ClientLean)
	}
	rc.ConnectionRequests = c.ConnectionRequests
	if c.Variant != "" {
		rc.VariantOf = c.Datapath
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
		if c.Options.Waypoint {
			rc.Waypoint = c.Options.WaypointNode
		}
		rc.L7Fallback = c.L7Fallback
	}
	if c.Options.Attach == scenarios.AttachNode {
		rc.Attach = c.Options.Attach
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
