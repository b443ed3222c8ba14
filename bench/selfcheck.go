package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/none"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// Check is one self-check: a target and what this machine measured.
type Check struct {
	Name     string
	Target   string
	Measured string
	Pass     bool
}

// Self-check targets (issue targets of the foundation and eBPF work).
const (
	upTarget        = 5 * time.Second
	downTarget      = 2 * time.Second
	throughputRate  = 20000
	tcpRRRate       = 50000
	wrkRatioTarget  = 1.15
	probeRatioLimit = 1.05
	checkRate       = 1000
	checkDuration   = 5 * time.Second
)

// SelfCheck measures meshbench's own targets on this machine: how fast the
// seed-mesh topology comes up and goes down, whether the load agent
// sustains 20,000 requests/s open loop (http1) and 50,000 (tcp-rr, the
// rate search's target for its generator), how its p50 compares with wrk's on
// the same path at the same rate, what attaching the packet-path probe does
// to p50, and the eBPF datapath's latency against none and nodeproxy. It
// needs the netns provider and wrk on the PATH.
func (r *Runner) SelfCheck(ctx context.Context) ([]Check, error) {
	var checks []Check
	up, down, err := r.provisionTimes(ctx)
	if err != nil {
		return nil, err
	}
	checks = append(checks,
		Check{"seed-mesh up (3 nodes, 101 pods)", "≤ " + upTarget.String(), up.Round(time.Millisecond).String(), up <= upTarget},
		Check{"seed-mesh down", "≤ " + downTarget.String(), down.Round(time.Millisecond).String(), down <= downTarget})

	c := checkCase(throughputRate, 64)
	cr := &caseRun{c: c, index: 1}
	defer r.teardown(ctx, cr)
	if err := r.setup(ctx, cr); err != nil {
		return nil, err
	}
	if _, _, err := r.attack(ctx, cr, "warmup", time.Second); err != nil {
		return nil, err
	}
	rep, err := r.measureOnce(ctx, cr, throughputRate, 3*time.Second)
	if err != nil {
		return nil, err
	}
	checks = append(checks, throughputCheck("load agent open loop at 20,000 req/s", rep, throughputRate))
	tcp, err := r.tcpRRCeiling(ctx)
	if err != nil {
		return nil, err
	}
	checks = append(checks, throughputCheck("load agent open loop, tcp-rr at 50,000 req/s", tcp, tcpRRRate))

	mine, err := r.measureOnce(ctx, cr, checkRate, checkDuration)
	if err != nil {
		return nil, err
	}
	theirs, err := wrkP50(ctx, cr, checkRate, checkDuration)
	if err != nil {
		return nil, err
	}
	ratio := mine.LatencyUS.P50 / theirs
	checks = append(checks, Check{"none p50 vs wrk, same path and rate", fmt.Sprintf("≤ %.2f×", wrkRatioTarget),
		fmt.Sprintf("%.0fµs vs %.0fµs (%.2f×)", mine.LatencyUS.P50, theirs, ratio), ratio <= wrkRatioTarget})

	probed, err := r.withProbe(ctx, cr, func() (results.Repetition, error) { return r.measureOnce(ctx, cr, checkRate, checkDuration) })
	if err != nil {
		return nil, err
	}
	pr := probed.LatencyUS.P50 / mine.LatencyUS.P50
	checks = append(checks, Check{"none p50 with the path probe attached", fmt.Sprintf("≤ %.2f×", probeRatioLimit),
		fmt.Sprintf("%.0fµs vs %.0fµs (%.2f×)", probed.LatencyUS.P50, mine.LatencyUS.P50, pr), pr <= probeRatioLimit})

	dp, err := r.datapathChecks(ctx)
	if err != nil {
		return nil, err
	}
	return append(checks, dp...), nil
}

// tcpRRCeiling measures the load agent's tcp-rr attack at tcpRRRate on
// none, in a cluster of its own.
func (r *Runner) tcpRRCeiling(ctx context.Context) (results.Repetition, error) {
	c := checkCase(tcpRRRate, 64)
	c.Protocol = scenarios.TCPRR
	cr := &caseRun{c: c, index: 9} // apart from the sub-runs of datapathChecks
	defer r.teardown(ctx, cr)
	if err := r.setup(ctx, cr); err != nil {
		return results.Repetition{}, err
	}
	if _, _, err := r.attack(ctx, cr, "warmup", time.Second); err != nil {
		return results.Repetition{}, err
	}
	return r.measureOnce(ctx, cr, tcpRRRate, 3*time.Second)
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
		checks = append(checks, Check{placement + ": ebpf p50 overhead over none below nodeproxy's", "ebpf < nodeproxy",
			fmt.Sprintf("+%.0fµs vs +%.0fµs", pEBPF-pNone, pNodeProxy-pNone), pEBPF < pNodeProxy})
		if placement == scenarios.SameNode {
			gain := 1 - pEBPF/pNodeProxy
			checks = append(checks, Check{"same-node: ebpf p50 below nodeproxy's", fmt.Sprintf("≥ %.0f%% lower", 100*ebpfSameNodeGain),
				fmt.Sprintf("%.0fµs vs %.0fµs (%.0f%% lower)", pEBPF, pNodeProxy, 100*gain), gain >= ebpfSameNodeGain})
		}
		checks = append(checks, Check{placement + ": ebpf without proxy vs none", fmt.Sprintf("≤ %.1f×", proxyOffLimit),
			fmt.Sprintf("%.0fµs vs %.0fµs (%.2f×)", pOff, pNone, pOff/pNone), pOff/pNone <= proxyOffLimit})
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
	probes, err := startProbes(ctx, r.opts.Agents, cr.cluster)
	if err != nil {
		return results.Repetition{}, err
	}
	defer probes.stop()
	return fn()
}

// wrkPace makes wrk (closed loop) send at a fixed rate: each connection
// waits its share of the interval before every request.
const wrkPace = "function delay() return %d end\n"

var wrkP50Line = regexp.MustCompile(`(?m)^\s*50%\s+([0-9.]+)(us|ms|s)\s*$`)

// wrkP50 runs wrk inside the client pod against the server service's
// address at rate and returns its p50 in microseconds.
func wrkP50(ctx context.Context, cr *caseRun, rate float64, d time.Duration) (float64, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return 0, errors.New("the self-check compares with wrk: install it (apt-get install wrk)")
	}
	topo := cr.cluster.Topology()
	client, server := topo.Pods[0], topo.Services[1]
	conns := 8
	dir, err := os.MkdirTemp("", "meshbench-wrk-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "pace.lua")
	perConn := time.Duration(float64(conns) / rate * float64(time.Second))
	if err := os.WriteFile(script, fmt.Appendf(nil, wrkPace, perConn.Milliseconds()), 0o600); err != nil {
		return 0, err
	}
	url := fmt.Sprintf("http://%s:%d/", server.VIP, server.Port)
	var out bytes.Buffer
	err = nsenter.Do(client.NetNS, func() error {
		cmd := exec.CommandContext(ctx, bin, "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s",
			"--latency", "-s", script, url)
		cmd.Stdout, cmd.Stderr = &out, &out
		return cmd.Run()
	})
	if err != nil {
		return 0, fmt.Errorf("run wrk: %w: %s", err, out.String())
	}
	m := wrkP50Line.FindStringSubmatch(out.String())
	if m == nil {
		return 0, fmt.Errorf("read wrk's p50 from: %s", out.String())
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	switch m[2] {
	case "ms":
		v *= 1e3
	case "s":
		v *= 1e6
	}
	return v, nil
}
