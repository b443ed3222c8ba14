package bench

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// drainGrace is how long a replaced pod keeps serving the connections it
// has after its endpoint moved to the new pod, before it is stopped:
// Kubernetes' endpoint removal racing the pod's SIGTERM, kept short.
const drainGrace = 200 * time.Millisecond

// enrolling reports whether c is an enrolment case.
func enrolling(c scenarios.Case) bool { return c.EnrolAfter > 0 }

// enrolProgress is what an enrolment did, written by its install and
// read once it is over.
type enrolProgress struct {
	method             string
	begin, end         time.Time
	restarted, inPlace int
	// readable is set once the datapath's counters can be read.
	readable atomic.Bool
}

// enrol measures an enrolment case: one open-loop attack of the case's
// duration from the unmeshed cluster's clients, during which, at
// EnrolAfter, the datapath is installed into the running cluster (see
// install), while a poller reads the datapath's per-source request
// counters every results.EnrolBin.
func (r *Runner) enrol(ctx context.Context, cr *caseRun) (err error) {
	st := r.opts.Status
	defer func() { st.End(err == nil) }()
	st.Start(fmt.Sprintf("Measuring %.0f req/s for %s, installing datapath %s into the running cluster after %s",
		cr.c.Rate, cr.c.Duration, cr.c.Datapath, cr.c.EnrolAfter))
	before, err := r.sent(ctx, cr)
	if err != nil {
		return err
	}
	prog := &enrolProgress{method: results.EnrolAttach}
	counted, reason := r.enrolCounters(cr)
	addrs := clientAddrs(cr.cluster.Topology())

	start := time.Now()
	pollCtx, stopPoll := context.WithCancel(ctx)
	var polls []results.EnrolPoll
	var pollErr error
	var wg sync.WaitGroup
	wg.Go(func() { polls, pollErr = pollThrough(pollCtx, counted, addrs, prog) })
	var installErr error
	var installed sync.WaitGroup
	installed.Go(func() {
		select {
		case <-time.After(cr.c.EnrolAfter - time.Since(start)):
		case <-ctx.Done():
			installErr = ctx.Err()
			return
		}
		prog.begin = time.Now()
		installErr = r.install(ctx, cr, prog)
		prog.end = time.Now()
	})
	samples, planned, err := r.attackClients(ctx, cr, "measure", cr.c.Duration)
	installed.Wait()
	stopPoll()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	if installErr != nil {
		return fmt.Errorf("install datapath %s into the running cluster: %w", cr.c.Datapath, installErr)
	}
	if err := r.alive(cr, samples, planned, cr.c.Duration); err != nil {
		return err
	}
	if counted != nil {
		if pollErr != nil {
			return fmt.Errorf("read the datapath's per-source counters: %w", pollErr)
		}
		// Every response is in: the last poll closes the last bin.
		last, err := through(ctx, counted, addrs)
		if err != nil {
			return fmt.Errorf("read the datapath's per-source counters: %w", err)
		}
		polls = append(polls, results.EnrolPoll{At: time.Now().UnixNano(), Through: last.Requests})
	}
	after, err := r.sent(ctx, cr)
	if err != nil {
		return err
	}
	rep, err := r.record(cr, 0, samples, results.Plan{Requests: planned, Duration: cr.c.Duration})
	if err != nil {
		return err
	}
	cr.reps = append(cr.reps, rep)
	t0 := start.UnixNano()
	if len(samples) > 0 {
		t0 = samples[0].Intended
		for _, s := range samples {
			t0 = min(t0, s.Intended)
		}
	}
	e := results.EnrolmentOf(results.EnrolInput{
		Samples: samples, Start: t0, Begin: prog.begin.UnixNano(), End: prog.end.UnixNano(),
		Duration: cr.c.Duration, Polls: polls, Counted: counted != nil,
	})
	e.Method, e.PodsRestarted, e.PodsMeshedInPlace, e.Reason = prog.method, prog.restarted, prog.inPlace, reason
	e.ClientConnections = after.Connections - before.Connections
	if counted != nil {
		e.CountedBy = "the datapath's proxies, per source address of the client pods, read every 100 ms"
		conns, err := through(ctx, counted, addrs)
		if err != nil {
			return fmt.Errorf("read the datapath's per-source counters: %w", err)
		}
		e.DatapathConnections = &conns.Connections
	}
	e.Note = enrolNote(e)
	if stalled := stallNote(e, planned, cr.c.Duration); stalled != "" {
		e.Note = stalled
	}
	cr.enrolment = e
	return nil
}

// enrolCounters returns the datapath's per-source counters, or nil and
// why there are none to read.
func (r *Runner) enrolCounters(cr *caseRun) (datapaths.Sourced, string) {
	if k, ok := r.opts.Datapaths.Lookup(cr.c.Datapath); ok && k.Enrol == scenarios.EnrolNothing {
		return nil, fmt.Sprintf("datapath %s installs nothing: no request can pass through it", cr.c.Datapath)
	}
	s, ok := cr.dp.(datapaths.Sourced)
	if !ok {
		return nil, fmt.Sprintf("datapath %s has no per-source counters", cr.c.Datapath)
	}
	return s, ""
}

// install brings the datapath into the running cluster: it labels the
// namespace for the injector, as a user enrolling workloads does, then
// rolls every pod where the datapath's pods must restart to join
// (datapaths.PodJoiner), else installs it, attaching to the pods as they
// run.
func (r *Runner) install(ctx context.Context, cr *caseRun, prog *enrolProgress) error {
	roller, rolls := cr.cluster.(clusters.Roller)
	if rolls {
		if err := roller.SetNamespaceLabel(ctx, clusters.InjectLabel, "true"); err != nil {
			return err
		}
	}
	if k, ok := r.opts.Datapaths.Lookup(cr.c.Datapath); ok && k.Enrol == scenarios.EnrolNothing {
		prog.method = results.EnrolNothing
		return cr.dp.Install(ctx, cr.cluster)
	}
	j, joins := cr.dp.(datapaths.PodJoiner)
	if !joins {
		err := cr.dp.Install(ctx, cr.cluster)
		prog.readable.Store(err == nil)
		return err
	}
	if !rolls {
		return fmt.Errorf("datapath %s needs every pod restarted, which this cluster cannot do", cr.c.Datapath)
	}
	prog.method = results.EnrolRollingRestart
	if err := j.Prepare(ctx, cr.cluster); err != nil {
		return err
	}
	prog.readable.Store(true)
	return r.roll(ctx, cr, j, roller, prog)
}

// roll enrols a datapath whose pods restart to join: first it meshes the
// client pods in place (their load agents are the measurement), so that
// their new connections go through their sidecars, then it replaces each
// server pod in turn: a new pod with the datapath's containers, its
// server started and ready, the service's endpoint switched to it, the old
// pod drained for drainGrace, stopped and deleted. Stopping the old server
// closes the clients' connections to it; they reconnect through their
// sidecars to the new pods.
func (r *Runner) roll(ctx context.Context, cr *caseRun, j datapaths.PodJoiner, roller clusters.Roller, prog *enrolProgress) error {
	topo := cr.cluster.Topology()
	var clients, servers []clusters.Pod
	for _, svc := range topo.Services {
		for _, name := range svc.Pods {
			p, _ := topo.Pod(name)
			switch svc.Role {
			case "client":
				clients = append(clients, p)
			case "server":
				servers = append(servers, p)
			}
		}
	}
	for _, p := range clients {
		// The sidecar joins before the redirect rules go in: rules
		// before it listens would refuse the connections they redirect,
		// which a pod started with its init container never meets.
		if err := roller.InjectPod(ctx, p.Name, func(ctx context.Context) error { return j.Join(ctx, p) }); err != nil {
			return err
		}
		prog.inPlace++
	}
	if len(servers) != len(cr.servers) {
		return fmt.Errorf("%d server pods but %d servers", len(servers), len(cr.servers))
	}
	for i, old := range servers {
		p, err := roller.AddPod(ctx, old.Name)
		if err != nil {
			return err
		}
		if err := j.Join(ctx, p); err != nil {
			return err
		}
		s, err := r.opts.Agents.StartServer(ctx, cr.cluster, p, serverOptions(cr.c))
		if err != nil {
			return err
		}
		// Kept at once, so that teardown stops it whatever happens next.
		prev := cr.servers[i]
		cr.servers[i] = s
		cr.replaced = append(cr.replaced, prev)
		if err := roller.SwitchEndpoint(ctx, old.Name, p.Name); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(drainGrace):
		}
		prev.Close()
		if err := j.Leave(ctx, old.Name); err != nil {
			return err
		}
		if err := roller.DeletePod(ctx, old.Name); err != nil {
			return err
		}
		prog.restarted++
	}
	return nil
}

// pollThrough reads the datapath's counters every results.EnrolBin, once
// they are readable, until ctx ends. A failed read (a proxy leaving as
// it is read) is skipped: its bin joins the next; it returns an error
// only when no read succeeded.
func pollThrough(ctx context.Context, counted datapaths.Sourced, addrs []netip.Addr, prog *enrolProgress) ([]results.EnrolPoll, error) {
	if counted == nil {
		return nil, nil
	}
	tick := time.NewTicker(results.EnrolBin)
	defer tick.Stop()
	var out []results.EnrolPoll
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			if len(out) == 0 && lastErr != nil {
				return nil, lastErr
			}
			return out, nil
		case <-tick.C:
		}
		if !prog.readable.Load() {
			continue
		}
		n, err := through(ctx, counted, addrs)
		if err != nil {
			if ctx.Err() == nil {
				lastErr = err
			}
			continue
		}
		out = append(out, results.EnrolPoll{At: time.Now().UnixNano(), Through: n.Requests})
	}
}

// through sums the datapath's per-source counts over addrs.
func through(ctx context.Context, counted datapaths.Sourced, addrs []netip.Addr) (datapaths.SourceCounts, error) {
	all, err := counted.Sources(ctx)
	if err != nil {
		return datapaths.SourceCounts{}, err
	}
	var n datapaths.SourceCounts
	for _, a := range addrs {
		n.Requests += all[a].Requests
		n.Connections += all[a].Connections
	}
	return n, nil
}

// clientAddrs are the addresses of the client pods, which an enrolment
// keeps (it meshes them in place).
func clientAddrs(t *clusters.Topology) []netip.Addr {
	var out []netip.Addr
	for _, p := range t.Pods {
		if svc, _ := t.Service(p.Service); svc.Role == "client" {
			out = append(out, p.IP)
		}
	}
	return out
}

// enrolNote says in one sentence what an enrolment's figures mean.
func enrolNote(e *results.Enrolment) string {
	switch {
	case e.Method == results.EnrolNothing:
		return "the control: nothing was installed, so the transition shows what the machine alone does to the load"
	case !e.Counted:
		return "the datapath's counters could not be read: the share of requests through it is not known"
	case e.FullS == nil && e.DatapathConnections != nil && *e.DatapathConnections >= e.ClientConnections:
		return fmt.Sprintf("the datapath took in hand all %d connections opened during the load, but not the requests on connections opened before the install, which keep their old path", e.ClientConnections)
	case e.FullS == nil:
		return "requests still went around the datapath at the end of the load: connections opened before the install keep their old path"
	}
	return ""
}

// stallNote says so when the load sent less than 90% of the requests it
// planned from the install on (an open loop whose requests hang holds its
// workers, so it sends fewer than it planned).
func stallNote(e *results.Enrolment, planned uint64, d time.Duration) string {
	sent := e.Transition.Requests + e.After.Requests
	want := float64(planned) * max(0, d.Seconds()-e.AfterS) / d.Seconds()
	if want == 0 || float64(sent) >= 0.9*want {
		return ""
	}
	return fmt.Sprintf("the load stalled from the install on: %d of the about %.0f requests planned from then were sent, %d of them failed",
		sent, want, e.Transition.Errors+e.After.Errors)
}
