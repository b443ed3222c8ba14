package bench

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/montanaflynn/stats"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// The cross-checks measure a protocol with meshbench and with an
// independent tool on the same path, client pod to server pod, in rounds
// that alternate the two (tool, meshbench, tool, meshbench, …) so that the
// machine's drift hits both alike, and compare the medians of the rounds.
const (
	crossRounds   = 3
	crossDuration = 3 * time.Second
	// rrBytes is the size of a tcp-rr request and of its response:
	// sockperf's ping-pong echoes what it sends.
	rrBytes = 1024
	// grpcBytes is the body of a gRPC call and of its answer.
	grpcBytes = 1024
	// toolPort is where a tool's own server listens in the server pod,
	// beside the echo server.
	toolPort = 5201
	// crossRatioTarget bounds meshbench's p50 and p90 from the actual send
	// against a tool's; streamTolerance its throughput against iperf3's.
	crossRatioTarget = 1.15
	streamTolerance  = 0.15
)

// tools are the independent load generators' binaries; netperf's and
// netserver's are "" when netperf is not installed.
type tools struct{ wrk, fortio, sockperf, ghz, iperf3, netperf, netserver string }

// netperfInstall says how to install netperf, which is in Debian's
// non-free component only.
const netperfInstall = "apt-get install netperf, from Debian's non-free component (.ci/run shows how without editing the apt sources)"

// crossing is how the cross-checks run: with tools, rounds rounds of each
// side, each d long (whole seconds: wrk, sockperf and iperf3 take no less).
type crossing struct {
	tools
	rounds int
	d      time.Duration
}

// seconds is d in whole seconds, as a flag's value.
func seconds(d time.Duration) string { return strconv.Itoa(int(d.Seconds())) }

// lookTools finds every independent tool with look, which is given the
// tool's name and how to install it.
func lookTools(look func(name, install string) (string, error)) (tools, error) {
	var t tools
	for _, tool := range []struct {
		name, install string
		bin           *string
	}{
		{"wrk", "apt-get install wrk", &t.wrk},
		{"fortio", "go install fortio.org/fortio@v1.63.10", &t.fortio},
		{"sockperf", "apt-get install sockperf", &t.sockperf},
		{"ghz", "go install github.com/bojand/ghz/cmd/ghz@v0.93.0", &t.ghz},
		{"iperf3", "apt-get install iperf3", &t.iperf3},
	} {
		bin, err := look(tool.name, tool.install)
		if err != nil {
			return t, err
		}
		*tool.bin = bin
	}
	// Without netperf, tcp-crr is not cross-checked, and the self-check
	// says so.
	for _, tool := range []struct {
		name string
		bin  *string
	}{{"netperf", &t.netperf}, {"netserver", &t.netserver}} {
		if bin, err := look(tool.name, netperfInstall); err == nil {
			*tool.bin = bin
		}
	}
	return t, nil
}

// onPath finds a tool on the PATH, or says how to install it.
func onPath(name, install string) (string, error) {
	bin, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("the self-check compares with %s: install it (%s)", name, install)
	}
	return bin, nil
}

// measurer measures one round: its figures, in an order the caller knows.
type measurer func() ([]float64, error)

// interleave runs each of ms rounds times, round-robin (the first, the
// second, …, the first again), and returns each one's per-figure median
// over its rounds.
func interleave(rounds int, ms ...measurer) ([][]float64, error) {
	if rounds < 1 {
		return nil, fmt.Errorf("interleave %d rounds: at least one is needed", rounds)
	}
	got := make([][][]float64, len(ms))
	for range rounds {
		for i, m := range ms {
			f, err := m()
			if err != nil {
				return nil, err
			}
			got[i] = append(got[i], f)
		}
	}
	out := make([][]float64, len(ms))
	for i, rs := range got {
		for k := range rs[0] {
			var col stats.Float64Data
			for _, r := range rs {
				col = append(col, r[k])
			}
			m, err := col.Median()
			if err != nil {
				return nil, fmt.Errorf("median of %d rounds: %w", rounds, err)
			}
			out[i] = append(out[i], m)
		}
	}
	return out, nil
}

// quantiles are a latency's p50 and p90, as a measurer gives them.
func quantiles(l results.Latency) []float64 { return []float64{l.P50, l.P90} }

// latency is quantiles' inverse.
func latency(q []float64) results.Latency { return results.Latency{P50: q[0], P90: q[1]} }

// toolLatency is an independent tool's name and its latency.
type toolLatency struct {
	name string
	l    results.Latency
}

// A reason says what the machine showed about a miss at quantile q (0 for
// p50, 1 for p90) where the better tool measured best; "" when nothing.
type reason func(q int, best float64) string

// compareLatency checks meshbench's p50 and p90 from the actual send
// (mine, the medians of rounds rounds) against the better of the tools',
// each within target× of it, named after what was measured; why, when not
// nil, gives a miss its reason.
func compareLatency(what string, target float64, rounds int, mine results.Latency, tools []toolLatency, why reason) []Check {
	names := make([]string, len(tools))
	for i, t := range tools {
		names[i] = t.name
	}
	vs := names[0]
	if len(names) > 1 {
		vs = "the better of " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	var checks []Check
	for i, q := range []struct {
		name string
		get  func(results.Latency) float64
	}{{"p50", func(l results.Latency) float64 { return l.P50 }}, {"p90", func(l results.Latency) float64 { return l.P90 }}} {
		best := q.get(tools[0].l)
		theirs := make([]string, len(tools))
		for i, t := range tools {
			best = min(best, q.get(t.l))
			theirs[i] = t.name + " " + results.FormatMicros(q.get(t.l))
		}
		ratio := q.get(mine) / best
		c := Check{
			Name:   fmt.Sprintf("%s %s from actual send vs %s", what, q.name, vs),
			Target: fmt.Sprintf("≤ %.2f×", target),
			Measured: fmt.Sprintf("%s vs %s (%.2f×), medians of %d interleaved rounds", results.FormatMicros(q.get(mine)),
				strings.Join(theirs, ", "), ratio, rounds),
			Pass: ratio <= target,
		}
		if !c.Pass && why != nil {
			c.Why = why(i, best)
		}
		checks = append(checks, c)
	}
	return checks
}

// latencyOf measures a case's latency from the actual send with cr's
// clients for d at the case's rate: sentFigures.
func (r *Runner) latencyOf(ctx context.Context, cr *caseRun, d time.Duration) measurer {
	return func() ([]float64, error) {
		samples, _, err := r.attack(ctx, cr, "measure", d)
		if err != nil {
			return nil, err
		}
		return sentFigures(samples)
	}
}

// burstLateness is how late a request must leave to be part of a catch-up
// burst: at the cross-checks' 1,000 req/s, the next one is due by then.
const burstLateness = time.Millisecond

// sentFigures are the p50 and p90 from the actual send of samples'
// successful requests, the share of them that left burstLateness or more
// after their intended time, and the p50 and p90 of those that did not
// (zero when none).
func sentFigures(samples []results.Sample) ([]float64, error) {
	all, err := sentLatency(samples)
	if err != nil {
		return nil, err
	}
	var onTime []results.Sample
	ok := 0
	for _, s := range samples {
		if s.Error != "" || s.Code == 0 {
			continue
		}
		ok++
		if s.Latency-s.Service < burstLateness {
			onTime = append(onTime, s)
		}
	}
	out := append(quantiles(all), 1-float64(len(onTime))/float64(ok), 0, 0)
	if len(onTime) > 0 {
		l, err := sentLatency(onTime)
		if err != nil {
			return nil, err
		}
		out[3], out[4] = l.P50, l.P90
	}
	return out, nil
}

// bursts is the reason, from sentFigures' medians (mine), why meshbench's
// latency from the actual send may be above a closed-loop tool's at the
// cross-check's target: requests the pacer released late, once it fell
// behind, leave together and queue behind each other in the client and
// server, where a closed-loop tool never has more in flight than its
// connections. It gives the other requests' figure, and says when that
// misses the target too; nothing when fewer than 1% left late.
func bursts(mine []float64, target float64) reason {
	return func(q int, best float64) string {
		if mine[2] < 0.01 {
			return ""
		}
		others := mine[3+q]
		why := fmt.Sprintf("%.1f%% of meshbench's requests left %s or more late, in catch-up bursts after the pacer fell behind, which a closed-loop tool never sends; the others' %s: %s",
			100*mine[2], burstLateness, []string{"p50", "p90"}[q], results.FormatMicros(others))
		if others > target*best {
			why += fmt.Sprintf(" (%.2f×: the bursts are not the whole gap)", others/best)
		}
		return why
	}
}

// crossCase sets up a same-node none case of protocol at rate over conns
// connections in a cluster of its own (index: 11 and up, apart from the
// other checks' clusters and datapathChecks' sub-runs) and warms it up. The caller
// tears it down, also after an error.
func (r *Runner) crossCase(ctx context.Context, index int, protocol string, rate float64, conns, req, resp int) (*caseRun, error) {
	c := checkCase(rate, conns)
	c.Protocol, c.RequestBytes, c.ResponseBytes = protocol, req, resp
	cr := &caseRun{c: c, index: index}
	if err := r.setup(ctx, cr); err != nil {
		return cr, err
	}
	_, _, err := r.attack(ctx, cr, "warmup", time.Second)
	return cr, err
}

// pods are a check case's client and server pods (clusterSpec's first
// service is the client, the second the server).
func pods(cr *caseRun) (client, server clusters.Pod) {
	topo := cr.cluster.Topology()
	client, _ = topo.Pod(topo.Services[0].Pods[0])
	server, _ = topo.Pod(topo.Services[1].Pods[0])
	return client, server
}

// direct is cr with a load agent of its own in the client pod aimed at the
// server pod's address, not at the service's: the path a tool's client
// takes to its server, which listens beside the echo server, where the
// service's address leads to the echo server alone. Stop closes the agent.
func (r *Runner) direct(ctx context.Context, cr *caseRun) (d *caseRun, stop func(), err error) {
	client, server := pods(cr)
	target := "http://" + netip.AddrPortFrom(server.IP, ServerPort).String() + "/"
	l, err := r.opts.Agents.StartLoad(ctx, cr.cluster, client, loadOptions(cr.c, []string{target}))
	if err != nil {
		return nil, nil, err
	}
	return &caseRun{c: cr.c, cluster: cr.cluster, servers: cr.servers, clients: []Load{l}}, l.Close, nil
}

// directCase sets up a cross-check's case as crossCase does, and a load
// agent in it aimed at the server pod (direct); done stops both, and on
// an error nothing is left to stop.
func (r *Runner) directCase(ctx context.Context, index int, protocol string, rate float64, conns, req, resp int) (cr, d *caseRun, done func(), err error) {
	cr, err = r.crossCase(ctx, index, protocol, rate, conns, req, resp)
	if err != nil {
		r.teardown(ctx, cr)
		return nil, nil, nil, err
	}
	d, stop, err := r.direct(ctx, cr)
	if err != nil {
		r.teardown(ctx, cr)
		return nil, nil, nil, err
	}
	return cr, d, func() { stop(); r.teardown(ctx, cr) }, nil
}

// tcpRRCheck compares tcp-rr with sockperf's TCP ping-pong and fortio's
// tcp echo: one connection, 1 KiB each way, 1,000 exchanges/s, server
// pod's address.
func (r *Runner) tcpRRCheck(ctx context.Context, t crossing) (checks []Check, err error) {
	cr, d, done, err := r.directCase(ctx, 11, scenarios.TCPRR, checkRate, 1, rrBytes, rrBytes)
	if err != nil {
		return nil, err
	}
	defer done()
	client, server := pods(cr)
	ip := server.IP.String()
	sockperfAt, fortioAt := strconv.Itoa(toolPort), netip.AddrPortFrom(server.IP, toolPort+1).String()
	for _, srv := range []struct {
		port int
		args []string
	}{
		{toolPort, []string{t.sockperf, "server", "--tcp", "-i", ip, "-p", sockperfAt}},
		{toolPort + 1, []string{t.fortio, "tcp-echo", "-tcp-port", fortioAt}},
	} {
		srv, err := startInNetns(server.NetNS, srv.port, srv.args[0], srv.args[1:]...)
		if err != nil {
			return nil, err
		}
		defer srv.stop()
	}
	r.opts.Status.Start(fmt.Sprintf("Measuring tcp-rr against sockperf and fortio (%d rounds of %s each)", t.rounds, t.d))
	defer func() { r.opts.Status.End(err == nil) }()
	if _, _, err := r.attack(ctx, d, "warmup", time.Second); err != nil {
		return nil, err
	}
	var spin stats.Float64Data
	sockperf := func() ([]float64, error) {
		out, busy, err := runInNetns(ctx, client.NetNS, t.sockperf, "ping-pong", "--tcp", "-i", ip, "-p", sockperfAt,
			"-m", strconv.Itoa(rrBytes), "--mps", strconv.Itoa(checkRate), "-t", seconds(t.d), "--full-rtt")
		if err != nil {
			return nil, err
		}
		spin = append(spin, busy)
		l, err := parseSockperf(out)
		return quantiles(l), err
	}
	fortio := func() ([]float64, error) {
		l, err := fortioLatency(ctx, t.fortio, client.NetNS, "tcp://"+fortioAt,
			fortioArgs{qps: checkRate, conns: 1, d: t.d, payload: rrBytes})
		return quantiles(l), err
	}
	mine := func() ([]float64, error) {
		samples, _, err := r.attack(ctx, d, "measure", t.d)
		if err != nil {
			return nil, err
		}
		l, err := sentLatency(samples)
		return quantiles(l), err
	}
	med, err := interleave(t.rounds, sockperf, fortio, mine)
	if err != nil {
		return nil, err
	}
	return compareLatency("tcp-rr (1 conn, 1 KiB each way, 1,000/s)", crossRatioTarget, t.rounds, latency(med[2]),
		[]toolLatency{{"sockperf", latency(med[0])}, {"fortio", latency(med[1])}}, func(q int, _ float64) string {
			if med[0][q] < med[1][q] {
				return spinning(spin) // sockperf is the better tool here
			}
			return ""
		}), nil
}

// spinning says, from the shares of a core sockperf's client kept busy in
// each round, how it differs from meshbench's agent where its round trips
// are shorter: it waits for its send times spinning, keeping its CPU
// busy, where meshbench's pacer sleeps until 30µs before each send;
// nothing when it did not spin.
func spinning(busy stats.Float64Data) string {
	m, err := busy.Median()
	if err != nil || m < 0.25 {
		return ""
	}
	return fmt.Sprintf("sockperf's client kept %.0f%% of a core busy (it waits for its send times spinning, and for answers in a blocking recvfrom); meshbench's agent sleeps until 30µs before each send and waits for answers through Go's netpoller", 100*m)
}

// runInNetns runs bin with args inside the network namespace netns and
// returns its standard output and the share of a core it kept busy while
// it ran.
func runInNetns(ctx context.Context, netns, bin string, args ...string) (out []byte, busy float64, err error) {
	var stdout, stderr bytes.Buffer
	err = nsenter.Do(netns, func() error {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		if ps := cmd.ProcessState; ps != nil {
			busy = (ps.UserTime() + ps.SystemTime()).Seconds() / time.Since(start).Seconds()
		}
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("run %s: %w: %s%s", filepath.Base(bin), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), busy, nil
}

// background is a tool's server running in a namespace.
type background struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

// startInNetns starts bin with args in netns, in the background, and
// waits until it listens on port.
func startInNetns(netns string, port int, bin string, args ...string) (*background, error) {
	b := &background{}
	err := nsenter.Do(netns, func() error {
		b.cmd = exec.Command(bin, args...)
		b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
		return b.cmd.Start()
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	if err := b.listening(port, 5*time.Second); err != nil {
		b.stop()
		return nil, fmt.Errorf("start %s: %w: %s", filepath.Base(bin), err, b.out.String())
	}
	return b, nil
}

// listening waits up to limit for the process to listen on TCP port,
// which the tools do not announce: /proc/PID/net/tcp lists the sockets of
// the process's namespace.
func (b *background) listening(port int, limit time.Duration) error {
	// A listening socket's line: "sl local_address rem_address st", the
	// local port in hex after the colon, state 0A.
	want := fmt.Sprintf(":%04X 00000000:0000 0A", port)
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		tcp, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", b.cmd.Process.Pid))
		if err != nil {
			return fmt.Errorf("wait for it to listen on port %d: %w", port, err)
		}
		if bytes.Contains(tcp, []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("not listening on port %d after %s", port, limit)
}

func (b *background) stop() {
	b.cmd.Process.Kill()
	b.cmd.Wait()
}

var sockperfPercentile = regexp.MustCompile(`(?m)percentile (50|90)\.000 =\s*([0-9.]+)\s*$`)

// parseSockperf reads the round trip's p50 and p90 (µs) from sockperf
// ping-pong's report, which must be of round trips (--full-rtt) without
// a message lost.
func parseSockperf(out []byte) (results.Latency, error) {
	if !bytes.Contains(out, []byte("Summary: Round trip")) {
		return results.Latency{}, fmt.Errorf("sockperf reported no round trip (--full-rtt): %s", out)
	}
	if !bytes.Contains(out, []byte("# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0")) {
		return results.Latency{}, fmt.Errorf("sockperf lost, duplicated or reordered messages: %s", out)
	}
	var l results.Latency
	for _, m := range sockperfPercentile.FindAllSubmatch(out, -1) {
		v, err := strconv.ParseFloat(string(m[2]), 64)
		if err != nil {
			return l, fmt.Errorf("read sockperf's latency %q: %w", m[2], err)
		}
		if string(m[1]) == "50" {
			l.P50 = v
		} else {
			l.P90 = v
		}
	}
	if l.P50 == 0 || l.P90 == 0 {
		return l, fmt.Errorf("read sockperf's p50 and p90 from: %s", out)
	}
	return l, nil
}

// echoProto defines the echo server's gRPC service (internal/agent's
// grpc.go), for ghz.
//
//go:embed echo.proto
var echoProto []byte

// grpcCheck compares grpc with ghz: 8 connections, 1 KiB each way, 1,000
// calls/s, through the service's address.
func (r *Runner) grpcCheck(ctx context.Context, t crossing) (checks []Check, err error) {
	cr, err := r.crossCase(ctx, 12, scenarios.GRPC, checkRate, checkConnections, grpcBytes, grpcBytes)
	defer r.teardown(ctx, cr)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "meshbench-ghz-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	proto, call := filepath.Join(dir, "echo.proto"), filepath.Join(dir, "call.bin")
	if err := os.WriteFile(proto, echoProto, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(call, bytesValue(grpcBytes), 0o600); err != nil {
		return nil, err
	}
	r.opts.Status.Start(fmt.Sprintf("Measuring grpc against ghz (%d rounds of %s each)", t.rounds, t.d))
	defer func() { r.opts.Status.End(err == nil) }()
	client, _ := pods(cr)
	server := cr.cluster.Topology().Services[1]
	ghz := func() ([]float64, error) {
		out, err := inNetns(ctx, client.NetNS, t.ghz, "--insecure", "--proto", proto, "--call", "meshbench.Echo/Echo",
			"-B", call, "--rps", strconv.Itoa(checkRate), "-c", strconv.Itoa(checkConnections),
			// A count, not a duration (-z): at the end of a duration ghz
			// cancels the calls in flight and counts them as failed.
			"--connections", strconv.Itoa(checkConnections), "-n", strconv.Itoa(int(checkRate*t.d.Seconds())), "-O", "json",
			netip.AddrPortFrom(server.VIP, uint16(server.Port)).String())
		if err != nil {
			return nil, err
		}
		l, err := parseGhz(out)
		return quantiles(l), err
	}
	med, err := interleave(t.rounds, ghz, r.latencyOf(ctx, cr, t.d))
	if err != nil {
		return nil, err
	}
	return compareLatency("grpc (8 conns, 1 KiB each way, 1,000 calls/s)", crossRatioTarget, t.rounds, latency(med[1]),
		[]toolLatency{{"ghz", latency(med[0])}}, bursts(med[1], crossRatioTarget)), nil
}

// bytesValue is a google.protobuf.BytesValue of n bytes, serialised: field
// 1, length-delimited.
func bytesValue(n int) []byte {
	return append(binary.AppendUvarint([]byte{0x0a}, uint64(n)), make([]byte, n)...)
}

// parseGhz reads p50 and p90 (ns in ghz's JSON) from ghz's JSON report,
// refusing one in which a call failed.
func parseGhz(out []byte) (results.Latency, error) {
	var res struct {
		Count                  int64
		ErrorDist              map[string]int64 `json:"errorDistribution"`
		StatusCodeDistribution map[string]int64
		LatencyDistribution    []struct {
			Percentage float64
			Latency    time.Duration
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return results.Latency{}, fmt.Errorf("decode ghz's JSON report: %w", err)
	}
	if ok := res.StatusCodeDistribution["OK"]; ok != res.Count || ok == 0 || len(res.ErrorDist) > 0 {
		return results.Latency{}, fmt.Errorf("ghz: %d of %d calls answered OK (%v, errors %v)", ok, res.Count, res.StatusCodeDistribution, res.ErrorDist)
	}
	var l results.Latency
	for _, p := range res.LatencyDistribution {
		switch p.Percentage {
		case 50:
			l.P50 = micros(p.Latency)
		case 90:
			l.P90 = micros(p.Latency)
		}
	}
	if l.P50 == 0 || l.P90 == 0 {
		return l, errors.New("ghz's JSON report has no p50 or p90")
	}
	return l, nil
}

// streamCheck compares stream with iperf3: one connection for t.d, 128
// KiB writes (both tools' default), server pod's address. Each side is
// bound by the CPU its two ends get, which on a loaded machine the
// scheduler decides, so it also compares the throughput per core of the
// sending side: meshbench's pods' CPU from a cost agent, iperf3's own.
func (r *Runner) streamCheck(ctx context.Context, t crossing) (checks []Check, err error) {
	cr, d, done, err := r.directCase(ctx, 13, scenarios.Stream, 0, 1, 0, 0)
	if err != nil {
		return nil, err
	}
	defer done()
	client, server := pods(cr)
	costs, err := r.opts.Agents.StartCost(ctx, cr.cluster, client.Node)
	if err != nil {
		return nil, err
	}
	defer costs.Close()
	srv, err := startInNetns(server.NetNS, toolPort, t.iperf3, "-s", "-B", server.IP.String(), "-p", strconv.Itoa(toolPort))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	r.opts.Status.Start(fmt.Sprintf("Measuring stream against iperf3 (%d rounds of %s each)", t.rounds, t.d))
	defer func() { r.opts.Status.End(err == nil) }()
	iperf := func() ([]float64, error) {
		out, err := inNetns(ctx, client.NetNS, t.iperf3, "-c", server.IP.String(), "-p", strconv.Itoa(toolPort), "-P", "1",
			"-l", "128K", "-t", seconds(t.d), "-J")
		if err != nil {
			return nil, err
		}
		s, err := parseIperf3(out)
		return streamFigures(s), err
	}
	groups := map[string][]string{"client": {client.ContainerCgroup(AppContainer)}, "server": {server.ContainerCgroup(AppContainer)}}
	mine := func() ([]float64, error) {
		if err := costs.Start(ctx, groups); err != nil {
			return nil, err
		}
		samples, _, err := r.attack(ctx, d, "measure", t.d)
		cost, cerr := costs.Stop(ctx)
		if err = errors.Join(err, cerr); err != nil {
			return nil, err
		}
		rep, err := results.SummarizeStream(samples)
		if err != nil {
			return nil, err
		}
		st := rep.Stream
		return streamFigures(iperf3Result{st.Gbps, 100 * cost["client"].CPUSeconds / st.Seconds, 100 * cost["server"].CPUSeconds / st.Seconds}), nil
	}
	med, err := interleave(t.rounds, iperf, mine)
	if err != nil {
		return nil, err
	}
	return streamChecks(t.rounds, med[1], med[0]), nil
}

// streamFigures are a stream round's figures: Gbit/s, the sender's and
// the receiver's CPU (% of a core), and Gbit/s per core of the sender.
func streamFigures(s iperf3Result) []float64 {
	return []float64{s.gbps, s.sender, s.receiver, s.gbps / (s.sender / 100)}
}

// streamChecks checks meshbench's stream figures (streamFigures' order,
// medians of rounds rounds) against iperf3's: throughput, and throughput
// per core of the sending side, each within ±streamTolerance.
func streamChecks(rounds int, mine, theirs []float64) []Check {
	within := func(a, b float64) bool { return a >= b*(1-streamTolerance) && a <= b*(1+streamTolerance) }
	cpu := fmt.Sprintf("senders %.0f%% and %.0f%% of a core, receivers %.0f%% and %.0f%% (meshbench's and iperf3's)", mine[1], theirs[1], mine[2], theirs[2])
	target := fmt.Sprintf("within ±%.0f%%", 100*streamTolerance)
	raw := Check{
		Name: "stream (1 conn, 128 KiB writes) vs iperf3", Target: target,
		Measured: fmt.Sprintf("%.2f vs %.2f Gbit/s (%+.0f%%), medians of %d interleaved rounds", mine[0], theirs[0], 100*(mine[0]/theirs[0]-1), rounds),
		Pass:     within(mine[0], theirs[0]),
	}
	if !raw.Pass {
		raw.Why = fmt.Sprintf("each side is bound by the CPU it gets: %s; per core of the sender %.1f vs %.1f Gbit/s", cpu, mine[3], theirs[3])
	}
	perCore := Check{
		Name: "stream Gbit/s per core of the sending side vs iperf3", Target: target,
		Measured: fmt.Sprintf("%.1f vs %.1f (%+.0f%%); %s", mine[3], theirs[3], 100*(mine[3]/theirs[3]-1), cpu),
		Pass:     within(mine[3], theirs[3]),
	}
	return []Check{raw, perCore}
}

// iperf3Result is what the self-check reads of an iperf3 client's report:
// the throughput its server received, and each end's CPU use (% of a core).
type iperf3Result struct{ gbps, sender, receiver float64 }

// parseIperf3 reads iperf3's JSON report (-J).
func parseIperf3(out []byte) (iperf3Result, error) {
	var res struct {
		Error string
		End   struct {
			SumReceived struct {
				Bytes         uint64
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
			CPU struct {
				Host   float64 `json:"host_total"`
				Remote float64 `json:"remote_total"`
			} `json:"cpu_utilization_percent"`
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return iperf3Result{}, fmt.Errorf("decode iperf3's JSON report: %w", err)
	}
	if res.Error != "" {
		return iperf3Result{}, fmt.Errorf("iperf3: %s", res.Error)
	}
	if res.End.SumReceived.Bytes == 0 || res.End.SumReceived.BitsPerSecond <= 0 {
		return iperf3Result{}, errors.New("iperf3's report has no bytes received")
	}
	return iperf3Result{res.End.SumReceived.BitsPerSecond / 1e9, res.End.CPU.Host, res.End.CPU.Remote}, nil
}

// netperfOutput are the omni output selectors parseNetperf reads.
const netperfOutput = "P50_LATENCY,P90_LATENCY,TRANSACTION_RATE"

// tcpCRRCheck compares tcp-crr with netperf's TCP_CRR, like with like:
// one connection at a time, 1 KiB each way, server pod's address, both
// closed loop, each exchange as soon as the one before ended. Debian's
// netperf cannot pace (it is built without --enable-intervals), so
// meshbench does not either here: its agent sends as many exchanges one
// after another as 1,000/s would send in a round. Both take an exchange
// from the connect to the server's close, which the client waits for
// (tcpCRR in internal/agent). Without netperf the check says it was not
// made.
func (r *Runner) tcpCRRCheck(ctx context.Context, t crossing) (checks []Check, err error) {
	if t.netperf == "" || t.netserver == "" {
		return []Check{{Name: "tcp-crr vs netperf TCP_CRR", Target: "(not cross-checked)", Info: true,
			Measured: "not cross-checked: netperf not installed (" + netperfInstall + ")"}}, nil
	}
	cr, d, done, err := r.directCase(ctx, 14, scenarios.TCPCRR, checkRate, 1, rrBytes, rrBytes)
	if err != nil {
		return nil, err
	}
	defer done()
	client, server := pods(cr)
	ip, port := server.IP.String(), strconv.Itoa(toolPort)
	// -D: in the foreground; -f: no child per test, so stopping it stops
	// every part of it.
	srv, err := startInNetns(server.NetNS, toolPort, t.netserver, "-D", "-f", "-4", "-L", ip+",4", "-p", port)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	r.opts.Status.Start(fmt.Sprintf("Measuring tcp-crr against netperf, both closed loop (%d rounds of %s each)", t.rounds, t.d))
	defer func() { r.opts.Status.End(err == nil) }()
	if _, _, err := r.attack(ctx, d, "warmup", time.Second); err != nil {
		return nil, err
	}
	var busy stats.Float64Data
	netperf := func() ([]float64, error) {
		out, b, err := runInNetns(ctx, client.NetNS, t.netperf, "-H", ip+",4", "-p", port, "-t", "TCP_CRR", "-l", seconds(t.d), "-P", "0",
			"--", "-r", fmt.Sprintf("%d,%d", rrBytes, rrBytes), "-k", netperfOutput)
		if err != nil {
			return nil, err
		}
		res, err := parseNetperf(out)
		busy = append(busy, b)
		return append(quantiles(res.l), res.rate), err
	}
	n := int(checkRate * t.d.Seconds())
	mine := func() ([]float64, error) {
		start := time.Now()
		samples, err := closedLoop(ctx, d.clients[0], "measure", n)
		if err != nil {
			return nil, err
		}
		rate := float64(n) / time.Since(start).Seconds()
		l, err := sentLatency(samples)
		return append(quantiles(l), rate), err
	}
	med, err := interleave(t.rounds, netperf, mine)
	if err != nil {
		return nil, err
	}
	return compareLatency(fmt.Sprintf("tcp-crr (1 conn at a time, 1 KiB each way, closed loop; meshbench %d exchanges a round)", n), crossRatioTarget, t.rounds,
		latency(med[1]), []toolLatency{{"netperf", latency(med[0])}}, func(int, float64) string {
			return bothClosed(med[0][2], med[1][2], busy)
		}), nil
}

// bothClosed says, from netperf's and meshbench's exchanges/s and the
// shares of a core netperf's client kept busy in each round, what a miss
// is: both ran closed loop on one connection at a time, in the same
// order, so the gap is each side's own cost per exchange.
func bothClosed(theirs, mine float64, busy stats.Float64Data) string {
	b, err := busy.Median()
	if err != nil {
		return ""
	}
	return fmt.Sprintf("both ran closed loop, one exchange straight after another, in the same order (connect, request, response, the server's close): netperf at %.0f exchanges/s, its client keeping %.0f%% of a core busy, meshbench at %.0f/s; the gap is the two programs' own cost per exchange (client and server), not pacing",
		theirs, 100*b, mine)
}

// netperfResult is what the self-check reads of netperf's report: its
// p50 and p90 (µs) and its exchanges per second.
type netperfResult struct {
	l    results.Latency
	rate float64
}

// parseNetperf reads netperf's keyval report (-k netperfOutput):
// KEY=VALUE lines, among which any others are ignored.
func parseNetperf(out []byte) (netperfResult, error) {
	got := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || !slices.Contains(strings.Split(netperfOutput, ","), k) {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return netperfResult{}, fmt.Errorf("read netperf's %s %q: %w", k, v, err)
		}
		got[k] = f
	}
	res := netperfResult{l: results.Latency{P50: got["P50_LATENCY"], P90: got["P90_LATENCY"]}, rate: got["TRANSACTION_RATE"]}
	if res.l.P50 <= 0 || res.l.P90 <= 0 || res.rate <= 0 {
		return res, fmt.Errorf("read netperf's p50, p90 and transaction rate from: %s", out)
	}
	return res, nil
}
