package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/none"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// Check is one self-check: a target and what this machine measured.
type Check struct {
	Name     string
	Target   string
	Measured string
	Pass     bool
	// Why, for a missed target, is what the machine showed of the cause.
	Why string
	// Info marks a figure reported beside the targets, not one: Pass is
	// meaningless for it.
	Info bool
}

// Self-check targets (issue targets of the foundation, eBPF and
// measurement-floor work).
const (
	upTarget       = 5 * time.Second
	downTarget     = 2 * time.Second
	throughputRate = 20000
	// capacityRate is issue 11's target for the rate search's generator,
	// http1 and tcp-rr alike: well above what the datapaths sustain.
	capacityRate     = 50000
	likeRatioTarget  = 1.05
	lateP50Target    = 20 * time.Microsecond
	lateP99Target    = 200 * time.Microsecond
	probeRatioLimit  = 1.05
	checkRate        = 1000
	checkConnections = 8
	checkDuration    = 5 * time.Second
)

// SelfCheck measures meshbench's own targets on this machine: how fast the
// seed-mesh topology comes up and goes down; whether the load agent
// sustains 20,000 requests/s open loop (http1) and 50,000 (http1 and
// tcp-rr, the rate search's target for its generator) and sends on time at 20,000 and
// at 1,000; how its latency from the actual send compares with wrk's and
// fortio's on the same path at the same rate and connections; what
// attaching the packet-path probe does to p50; and the eBPF datapath's
// latency against none and nodeproxy. Figures that are not targets (the
// path's floor: sequential round trips) come back as Info checks. It needs
// the netns provider, and wrk and fortio on the PATH.
func (r *Runner) SelfCheck(ctx context.Context) ([]Check, error) {
	tl, err := lookTools(onPath)
	if err != nil {
		return nil, err
	}
	t := crossing{tools: tl, rounds: crossRounds, d: crossDuration}
	var checks []Check
	up, down, err := r.provisionTimes(ctx)
	if err != nil {
		return nil, err
	}
	checks = append(checks,
		Check{Name: "seed-mesh up (3 nodes, 101 pods)", Target: "≤ " + upTarget.String(), Measured: up.Round(time.Millisecond).String(), Pass: up <= upTarget},
		Check{Name: "seed-mesh down", Target: "≤ " + downTarget.String(), Measured: down.Round(time.Millisecond).String(), Pass: down <= downTarget})

	tp, err := r.throughputChecks(ctx)
	if err != nil {
		return nil, err
	}
	for i, protocol := range []string{scenarios.HTTP1, scenarios.TCPRR} {
		rep, err := r.agentCeiling(ctx, protocol, 9+i)
		if err != nil {
			return nil, err
		}
		tp = append(tp, throughputCheck("load agent open loop, "+protocol+" at 50,000 req/s", rep, capacityRate))
	}
	checks = append(checks, tp...)
	for _, cross := range []func(context.Context, crossing) ([]Check, error){r.accuracyChecks, r.tcpRRCheck, r.grpcCheck, r.streamCheck, r.tcpCRRCheck} {
		cs, err := cross(ctx, t)
		if err != nil {
			return nil, err
		}
		checks = append(checks, cs...)
	}
	dp, err := r.datapathChecks(ctx)
	if err != nil {
		return nil, err
	}
	return append(checks, dp...), nil
}

// throughputChecks runs the load agent at 20,000 req/s over 64 connections
// against none: the rate it achieved and how late it sent.
func (r *Runner) throughputChecks(ctx context.Context) ([]Check, error) {
	cr := &caseRun{c: checkCase(throughputRate, 64), index: 1}
	defer r.teardown(ctx, cr)
	if err := r.setup(ctx, cr); err != nil {
		return nil, err
	}
	if _, _, err := r.attack(ctx, cr, "warmup", time.Second); err != nil {
		return nil, err
	}
	var rep results.Repetition
	waited, err := cpuWaited(func() error {
		var err error
		rep, err = r.measureOnce(ctx, cr, throughputRate, 3*time.Second)
		return err
	})
	if err != nil {
		return nil, err
	}
	late := latenessCheck("pacer lateness at 20,000 req/s", rep)
	if !late.Pass && waited > 0 {
		late.Why = fmt.Sprintf("some task waited for a CPU during %.0f%% of the measurement (the kernel's CPU pressure, all %d CPUs busy with the echo server, the load agent and the network path), and a worker woken on time waits its turn like them",
			100*waited, runtime.NumCPU())
	}
	return []Check{throughputCheck("load agent open loop at 20,000 req/s", rep, throughputRate), late}, nil
}

// cpuWaited runs fn and returns the share of its wall time during which
// at least one task on the machine was runnable but waited for a CPU, from
// /proc/pressure/cpu ("some"), or 0 where the kernel has no pressure
// accounting.
func cpuWaited(fn func() error) (float64, error) {
	before, ok := cpuSomeStall()
	start := time.Now()
	if err := fn(); err != nil {
		return 0, err
	}
	wall := time.Since(start)
	after, ok2 := cpuSomeStall()
	if !ok || !ok2 || wall <= 0 {
		return 0, nil
	}
	return min(1, float64(after-before)/float64(wall)), nil
}

// cpuSomeStall reads the total time, since boot, during which some task
// waited for a CPU.
func cpuSomeStall() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	_, total, ok := strings.Cut(line, " total=")
	if !ok || !strings.HasPrefix(line, "some ") {
		return 0, false
	}
	us, err := strconv.ParseUint(strings.TrimSpace(total), 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(us) * time.Microsecond, true
}

// accuracyChecks compare meshbench with wrk and fortio like for like: none,
// same node, 8 connections at 1,000 req/s, each tool's latency counted from
// its actual send (wrk and fortio are closed loop, so theirs cannot count
// from an intended time), in interleaved rounds (wrk, fortio, meshbench,
// wrk, …) whose medians are compared, since one round of a tool moves by
// half on this kind of machine. They also give the pacer's lateness at
// that rate, the path's floor, and the probe's effect on p50.
func (r *Runner) accuracyChecks(ctx context.Context, t crossing) ([]Check, error) {
	cr := &caseRun{c: checkCase(checkRate, checkConnections), index: 2}
	defer r.teardown(ctx, cr)
	if err := r.setup(ctx, cr); err != nil {
		return nil, err
	}
	if _, _, err := r.attack(ctx, cr, "warmup", time.Second); err != nil {
		return nil, err
	}
	mine, err := r.measureOnce(ctx, cr, checkRate, checkDuration)
	if err != nil {
		return nil, err
	}
	url, client := serviceURL(cr), cr.cluster.Topology().Pods[0].NetNS
	med, why, err := r.independent(ctx, t, cr, client, url)
	if err != nil {
		return nil, err
	}
	floor, err := r.floorChecks(ctx, t.fortio, client, url)
	if err != nil {
		return nil, err
	}
	probe, err := r.probeCheck(ctx, cr, t)
	if err != nil {
		return nil, err
	}
	like := compareLatency("none (8 conns, 1,000 req/s)", likeRatioTarget, t.rounds, med[2],
		[]toolLatency{{"wrk", med[0]}, {"fortio", med[1]}}, why)
	checks := append(like, latenessCheck("pacer lateness at 1,000 req/s", mine))
	checks = append(checks, floor...)
	return append(checks, probe), nil
}

// independent measures wrk's, fortio's and meshbench's latency from netns
// to url, at the accuracy checks' rate and connections, in interleaved
// rounds, and returns the medians of their p50 and p90, in that order,
// with what meshbench's figures say of a miss (bursts).
func (r *Runner) independent(ctx context.Context, t crossing, cr *caseRun, netns, url string) (med [3]results.Latency, why reason, err error) {
	r.opts.Status.Start(fmt.Sprintf("Measuring the same with wrk, fortio and meshbench (%d rounds of %s each)", t.rounds, t.d))
	defer func() { r.opts.Status.End(err == nil) }()
	wrk := func() ([]float64, error) {
		l, err := wrkLatency(ctx, t.wrk, netns, url, checkRate, checkConnections, t.d)
		return quantiles(l), err
	}
	fortio := func() ([]float64, error) {
		l, err := fortioLatency(ctx, t.fortio, netns, url, fortioArgs{qps: checkRate, conns: checkConnections, d: t.d})
		return quantiles(l), err
	}
	got, err := interleave(t.rounds, wrk, fortio, r.latencyOf(ctx, cr, t.d))
	if err != nil {
		return med, nil, err
	}
	for i, q := range got {
		med[i] = latency(q)
	}
	return med, bursts(got[2], likeRatioTarget), nil
}

// latenessCheck checks how late rep's requests left their intended send
// times.
func latenessCheck(name string, rep results.Repetition) Check {
	c := Check{Name: name, Target: fmt.Sprintf("p50 ≤ %s, p99 ≤ %s", results.FormatMicros(micros(lateP50Target)), results.FormatMicros(micros(lateP99Target)))}
	l := rep.PacerLatenessUS
	if l == nil {
		c.Measured = "not measured"
		return c
	}
	c.Measured = fmt.Sprintf("p50 %s, p99 %s", results.FormatMicros(l.P50), results.FormatMicros(l.P99))
	c.Pass = l.P50 <= micros(lateP50Target) && l.P99 <= micros(lateP99Target)
	return c
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// floorChecks report the path's floor with fortio over one connection:
// sequential round trips at full speed, and at 1,000 req/s, where every
// request finds the machine idle and has to wake it. They are figures,
// not targets.
func (r *Runner) floorChecks(ctx context.Context, fortio, netns, url string) ([]Check, error) {
	r.opts.Status.Start("Measuring the path's floor: one connection, sequential round trips")
	full, err := fortioLatency(ctx, fortio, netns, url, fortioArgs{qps: 0, conns: 1, n: 5000})
	if err != nil {
		r.opts.Status.End(false)
		return nil, err
	}
	paced, err := fortioLatency(ctx, fortio, netns, url, fortioArgs{qps: checkRate, conns: 1, d: 3 * time.Second})
	r.opts.Status.End(err == nil)
	if err != nil {
		return nil, err
	}
	floor := func(name string, l results.Latency) Check {
		return Check{Name: name, Target: "(figure)", Info: true,
			Measured: fmt.Sprintf("p50 %s, p90 %s (fortio)", results.FormatMicros(l.P50), results.FormatMicros(l.P90))}
	}
	return []Check{
		floor("floor: sequential round trips on one connection, full speed", full),
		floor("floor: one connection at 1,000 req/s", paced),
	}, nil
}

// probeCheck measures none's p50 with the path probe attached against
// without, in t.rounds interleaved rounds of each (without, with,
// without, …) whose medians are compared: one round of each moved the
// ratio from 1.17× to 1.89× on an idle machine.
func (r *Runner) probeCheck(ctx context.Context, cr *caseRun, t crossing) (Check, error) {
	p50 := func() ([]float64, error) {
		rep, err := r.measureOnce(ctx, cr, checkRate, t.d)
		return []float64{rep.LatencyUS.P50}, err
	}
	probed := func() ([]float64, error) {
		rep, err := r.withProbe(ctx, cr, func() (results.Repetition, error) { return r.measureOnce(ctx, cr, checkRate, t.d) })
		return []float64{rep.LatencyUS.P50}, err
	}
	med, err := interleave(t.rounds, p50, probed)
	if err != nil {
		return Check{}, err
	}
	without, with := med[0][0], med[1][0]
	pr := with / without
	return Check{Name: fmt.Sprintf("none p50 with the path probe attached (medians of %d interleaved rounds)", t.rounds), Target: fmt.Sprintf("≤ %.2f×", probeRatioLimit),
		Measured: fmt.Sprintf("%.0fµs vs %.0fµs (%.2f×)", with, without, pr), Pass: pr <= probeRatioLimit}, nil
}

// sentLatency is the latency of samples' successful requests from their
// actual send, as closed-loop tools measure it.
func sentLatency(samples []results.Sample) (results.Latency, error) {
	h := hdrhistogram.New(1, int64(time.Minute), 3)
	for _, s := range samples {
		if s.Error != "" || s.Code == 0 {
			continue
		}
		if err := h.RecordValue(min(max(int64(s.Service), 1), int64(time.Minute))); err != nil {
			return results.Latency{}, fmt.Errorf("record latency from send %v: %w", s.Service, err)
		}
	}
	if h.TotalCount() == 0 {
		return results.Latency{}, errors.New("self-check: no request succeeded")
	}
	return results.HistogramLatency(h), nil
}

// agentCeiling measures the load agent's attack of protocol at
// capacityRate on none, in a cluster of its own (index, apart from the
// sub-runs of datapathChecks).
func (r *Runner) agentCeiling(ctx context.Context, protocol string, index int) (results.Repetition, error) {
	c := checkCase(capacityRate, 64)
	c.Protocol = protocol
	cr := &caseRun{c: c, index: index}
	defer r.teardown(ctx, cr)
	if err := r.setup(ctx, cr); err != nil {
		return results.Repetition{}, err
	}
	if _, _, err := r.attack(ctx, cr, "warmup", time.Second); err != nil {
		return results.Repetition{}, err
	}
	return r.measureOnce(ctx, cr, capacityRate, 3*time.Second)
}

// throughputCheck, named name, checks that rep achieved rate: its achieved
// rate, over the measured wall time, within results.RateTolerance of the
// target.
func throughputCheck(name string, rep results.Repetition, rate float64) Check {
	f := rep.AchievedRPS / rate
	measured := fmt.Sprintf("%.0f req/s (%.1f%%), %.2f%% errors", rep.AchievedRPS, 100*f, 100*rep.ErrorRate)
	if rep.Unsent > 0 {
		measured += fmt.Sprintf(", %d not sent", rep.Unsent)
	}
	if l := rep.PacerLatenessUS; l != nil {
		measured += fmt.Sprintf(", sent late by %s p50, %s p99", results.FormatMicros(l.P50), results.FormatMicros(l.P99))
	}
	return Check{
		Name:     name,
		Target:   fmt.Sprintf("achieved ≥ %.0f%%", 100*(1-results.RateTolerance)),
		Measured: measured,
		Pass:     f >= 1-results.RateTolerance,
	}
}

// Datapath targets, compared within one run at 1,000 req/s.
const (
	ebpfSameNodeGain = 0.15 // same-node ebpf p50 at least 15% below nodeproxy's
	proxyOffLimit    = 1.2  // ebpf without proxy within 1.2× of none
)

// datapathChecks runs none, nodeproxy, ebpf and ebpf without proxy (l4,
// no mTLS) same-node and cross-node, three repetitions each, and checks
// the eBPF datapath's latency targets on the medians.
func (r *Runner) datapathChecks(ctx context.Context) ([]Check, error) {
	type variant struct {
		datapath string
		opts     scenarios.DatapathOptions
	}
	variants := []variant{
		{none.Name, scenarios.DatapathOptions{}},
		{nodeproxy.Name, scenarios.DatapathOptions{Mode: scenarios.ModeL4}},
		{ebpf.Name, scenarios.DatapathOptions{Mode: scenarios.ModeL4}},
		{ebpf.Name, scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOff}},
	}
	var checks []Check
	for i, placement := range []string{scenarios.SameNode, scenarios.CrossNode} {
		var cases []scenarios.Case
		for j, v := range variants {
			c := checkCase(checkRate, 8)
			c.ID = fmt.Sprintf("selfcheck-%s-%d", placement, j)
			c.Nodes, c.Placement, c.Datapath, c.Options = 2, placement, v.datapath, v.opts
			c.Duration, c.Warmup, c.Repetitions = 3*time.Second, time.Second, 3
			cases = append(cases, c)
		}
		sub := New(Options{Provider: r.opts.Provider, Datapaths: r.opts.Datapaths, Agents: r.opts.Agents, Status: r.opts.Status, RunID: r.opts.RunID + strconv.Itoa(2+i)})
		got, err := sub.Run(ctx, cases)
		if err != nil {
			return nil, err
		}
		p50 := make([]float64, len(got))
		for k, c := range got {
			if c.Status != "ok" {
				return nil, fmt.Errorf("self-check case %s: %s", c.ID, c.Error)
			}
			p50[k] = c.LatencyUS.P50
		}
		pNone, pNodeProxy, pEBPF, pOff := p50[0], p50[1], p50[2], p50[3]
		checks = append(checks, Check{Name: placement + ": ebpf p50 overhead over none below nodeproxy's", Target: "ebpf < nodeproxy",
			Measured: fmt.Sprintf("+%.0fµs vs +%.0fµs", pEBPF-pNone, pNodeProxy-pNone), Pass: pEBPF < pNodeProxy})
		if placement == scenarios.SameNode {
			gain := 1 - pEBPF/pNodeProxy
			checks = append(checks, Check{Name: "same-node: ebpf p50 below nodeproxy's", Target: fmt.Sprintf("≥ %.0f%% lower", 100*ebpfSameNodeGain),
				Measured: fmt.Sprintf("%.0fµs vs %.0fµs (%.0f%% lower)", pEBPF, pNodeProxy, 100*gain), Pass: gain >= ebpfSameNodeGain})
		}
		checks = append(checks, Check{Name: placement + ": ebpf without proxy vs none", Target: fmt.Sprintf("≤ %.1f×", proxyOffLimit),
			Measured: fmt.Sprintf("%.0fµs vs %.0fµs (%.2f×)", pOff, pNone, pOff/pNone), Pass: pOff/pNone <= proxyOffLimit})
	}
	return checks, nil
}

// checkCase is a same-node `none` case of the quick topology.
func checkCase(rate float64, conns int) scenarios.Case {
	return scenarios.Case{
		ID: "selfcheck", Datapath: none.Name, Placement: scenarios.SameNode,
		Nodes: 1, Services: 1, PodsPerService: 1, ClientPods: 1,
		PodCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/16",
		Rate: rate, Connections: conns, ResponseBytes: 1024,
	}
}

func (r *Runner) provisionTimes(ctx context.Context) (up, down time.Duration, err error) {
	spec, err := scenarios.Builtin("seed-mesh")
	if err != nil {
		return 0, 0, err
	}
	scenarios.SetDefaults(spec, r.opts.Datapaths.Scenarios())
	c := scenarios.Expand(spec)[0]
	cs, err := clusterSpec(r.opts.RunID, 0, c)
	if err != nil {
		return 0, 0, err
	}
	r.opts.Status.Start("Timing the seed-mesh topology up and down")
	start := time.Now()
	cl, err := r.opts.Provider.Create(ctx, cs)
	if err != nil {
		r.opts.Status.End(false)
		return 0, 0, fmt.Errorf("create seed-mesh cluster: %w", err)
	}
	up = time.Since(start)
	start = time.Now()
	err = cl.Delete(context.WithoutCancel(ctx))
	down = time.Since(start)
	r.opts.Status.End(err == nil)
	return up, down, err
}

// measureOnce runs one attack from the case's client at rate.
func (r *Runner) measureOnce(ctx context.Context, cr *caseRun, rate float64, d time.Duration) (results.Repetition, error) {
	r.opts.Status.Start(fmt.Sprintf("Measuring %.0f req/s for %s", rate, d))
	cr.c.Rate = rate
	samples, planned, err := r.attack(ctx, cr, "measure", d)
	r.opts.Status.End(err == nil)
	if err != nil {
		return results.Repetition{}, err
	}
	return results.Summarize(samples, results.Plan{Requests: planned, Duration: d})
}

// withProbe runs fn with the packet-path probe attached to the cluster.
func (r *Runner) withProbe(ctx context.Context, cr *caseRun, fn func() (results.Repetition, error)) (results.Repetition, error) {
	probes, err := startProbes(ctx, r.opts.Agents, cr.cluster, cr.dp)
	if err != nil {
		return results.Repetition{}, err
	}
	defer probes.stop()
	return fn()
}

// serviceURL is the address of the case's server service.
func serviceURL(cr *caseRun) string {
	server := cr.cluster.Topology().Services[1]
	return fmt.Sprintf("http://%s:%d/", server.VIP, server.Port)
}

// inNetns runs bin with args inside the network namespace netns and returns
// its standard output.
func inNetns(ctx context.Context, netns, bin string, args ...string) ([]byte, error) {
	out, _, err := runInNetns(ctx, netns, bin, args...)
	return out, err
}

// wrkPace makes wrk (closed loop) send at a fixed rate: each connection
// waits its share of the interval before every request.
const wrkPace = "function delay() return %d end\n"

var wrkPercentileLine = regexp.MustCompile(`(?m)^\s*(50|90)%\s+([0-9.]+)(us|ms|s)\s*$`)

// wrkLatency runs wrk in netns against url at rate over conns connections
// for d and returns its p50 and p90 (the others are left zero).
func wrkLatency(ctx context.Context, bin, netns, url string, rate float64, conns int, d time.Duration) (results.Latency, error) {
	dir, err := os.MkdirTemp("", "meshbench-wrk-")
	if err != nil {
		return results.Latency{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "pace.lua")
	perConn := time.Duration(float64(conns) / rate * float64(time.Second))
	if err := os.WriteFile(script, fmt.Appendf(nil, wrkPace, perConn.Milliseconds()), 0o600); err != nil {
		return results.Latency{}, err
	}
	out, err := inNetns(ctx, netns, bin, "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"--latency", "-s", script, url)
	if err != nil {
		return results.Latency{}, err
	}
	return parseWrk(out)
}

// parseWrk reads the 50% and 90% lines of wrk's --latency distribution.
func parseWrk(out []byte) (results.Latency, error) {
	var l results.Latency
	for _, m := range wrkPercentileLine.FindAllSubmatch(out, -1) {
		v, err := strconv.ParseFloat(string(m[2]), 64)
		if err != nil {
			return l, fmt.Errorf("read wrk's latency %q: %w", m[2], err)
		}
		switch string(m[3]) {
		case "ms":
			v *= 1e3
		case "s":
			v *= 1e6
		}
		if string(m[1]) == "50" {
			l.P50 = v
		} else {
			l.P90 = v
		}
	}
	if l.P50 == 0 || l.P90 == 0 {
		return l, fmt.Errorf("read wrk's p50 and p90 from: %s", out)
	}
	return l, nil
}

// fortioArgs say how fortio loads: qps 0 is as fast as it can, n a number
// of calls instead of the duration d; payload, for its tcp echo (a
// tcp:// url), is the size of each message.
type fortioArgs struct {
	qps     float64
	conns   int
	n       int
	d       time.Duration
	payload int
}

// fortioLatency runs fortio in netns against url and returns its p50 and
// p90, which it measures from each call's actual send.
func fortioLatency(ctx context.Context, bin, netns, url string, a fortioArgs) (results.Latency, error) {
	// -r: fortio's histogram is linear in buckets of its resolution, 1 ms
	// by default, too coarse for latencies of a few hundred µs. -uniform
	// spreads the connections' calls over each interval, as meshbench's
	// pacer spreads its requests; without it they leave together.
	args := []string{"load", "-quiet", "-json", "-", "-p", "50,90", "-r", "0.000001", "-uniform",
		"-qps", strconv.FormatFloat(a.qps, 'f', -1, 64), "-c", strconv.Itoa(a.conns)}
	if a.n > 0 {
		args = append(args, "-n", strconv.Itoa(a.n))
	} else {
		args = append(args, "-t", a.d.String())
	}
	ok := "200"
	if a.payload > 0 {
		args, ok = append(args, "-payload-size", strconv.Itoa(a.payload)), "OK"
	}
	out, err := inNetns(ctx, netns, bin, append(args, url)...)
	if err != nil {
		return results.Latency{}, err
	}
	return parseFortio(out, ok)
}

// parseFortio reads p50 and p90 (seconds in fortio's JSON) from fortio's
// JSON result, refusing one in which a call's code was not ok ("200" for
// HTTP, "OK" for fortio's tcp echo).
func parseFortio(out []byte, ok string) (results.Latency, error) {
	var res struct {
		RetCodes          map[string]int64
		DurationHistogram struct {
			Count       int64
			Percentiles []struct {
				Percentile float64
				Value      float64
			}
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return results.Latency{}, fmt.Errorf("decode fortio's JSON result: %w", err)
	}
	if n := res.RetCodes[ok]; n != res.DurationHistogram.Count || n == 0 {
		return results.Latency{}, fmt.Errorf("fortio: %d of %d calls answered %s (%v)", n, res.DurationHistogram.Count, ok, res.RetCodes)
	}
	var l results.Latency
	for _, p := range res.DurationHistogram.Percentiles {
		switch p.Percentile {
		case 50:
			l.P50 = p.Value * 1e6
		case 90:
			l.P90 = p.Value * 1e6
		}
	}
	if l.P50 == 0 || l.P90 == 0 {
		return l, errors.New("fortio's JSON result has no p50 or p90")
	}
	return l, nil
}
