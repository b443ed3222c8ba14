package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
)

// The throughput check passes on the target rate and fails on a shortfall
// of more than 1%, saying what was sent late and not at all.
func TestThroughputCheck(t *testing.T) {
	tests := []struct {
		name string
		rep  results.Repetition
		pass bool
		want string
	}{
		{"on rate", results.Repetition{AchievedRPS: 19950, PacerLatenessUS: &results.Lateness{P50: 15, P99: 150}}, true,
			"19950 req/s (99.8%), 0.00% errors, sent late by 15.0µs p50, 150µs p99"},
		{"above the ceiling", results.Repetition{AchievedRPS: 4504, ErrorRate: 56.0 / 23131, Unsent: 36869, PacerLatenessUS: &results.Lateness{P50: 685e3, P99: 3.77e6}}, false,
			"4504 req/s (22.5%), 0.24% errors, 36869 not sent, sent late by 685ms p50, 3.77s p99"},
		{"just short", results.Repetition{AchievedRPS: 19790}, false, "19790 req/s (99.0%), 0.00% errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := throughputCheck("load agent", tt.rep, 20000)
			if c.Pass != tt.pass || c.Measured != tt.want || !strings.Contains(c.Target, "99%") {
				t.Errorf("check = %+v, want pass %v, measured %q, target 99%%", c, tt.pass, tt.want)
			}
		})
	}
}

// Each tool's output, as captured from wrk 4.1, fortio 1.63.10 (HTTP and
// tcp echo), sockperf 3.7 (ping-pong --full-rtt) and ghz 0.93.0 (-O json,
// its per-call details left out), gives its p50 and p90 in µs.
func TestIndependentOutputs(t *testing.T) {
	fortio := func(ok string) func([]byte) (results.Latency, error) {
		return func(b []byte) (results.Latency, error) { return parseFortio(b, ok) }
	}
	tests := []struct {
		file  string
		parse func([]byte) (results.Latency, error)
		want  results.Latency
	}{
		{"wrk.txt", parseWrk, results.Latency{P50: 50, P90: 109}},
		{"fortio.json", fortio("200"), results.Latency{P50: 316.66666666666663, P90: 450}},
		{"fortio-tcp.json", fortio("OK"), results.Latency{P50: 45.819672131147535, P90: 81.53846153846153}},
		{"sockperf.txt", parseSockperf, results.Latency{P50: 44.573, P90: 52.337}},
		{"ghz.json", parseGhz, results.Latency{P50: 222.758, P90: 599.555}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := tt.parse(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.P50-tt.want.P50) > 1e-6 || math.Abs(got.P90-tt.want.P90) > 1e-6 {
				t.Errorf("p50, p90 = %v, %v µs, want %v, %v", got.P50, got.P90, tt.want.P50, tt.want.P90)
			}
		})
	}
}

// A tool's run in which a call failed, a message was lost, or whose report
// lacks its figures is no comparison: each parser refuses it, saying why.
func TestIndependentFailures(t *testing.T) {
	fortio, ghz, sockperf := readTestdata(t, "fortio.json"), readTestdata(t, "ghz.json"), readTestdata(t, "sockperf.txt")
	tests := []struct {
		name  string
		parse func() error
		want  string
	}{
		{"fortio call failed", func() error {
			_, err := parseFortio(bytes.Replace(fortio, []byte(`"200": 20`), []byte(`"200": 19, "-1": 1`), 1), "200")
			return err
		}, "19 of 20"},
		{"fortio tcp read as http", func() error { _, err := parseFortio(readTestdata(t, "fortio-tcp.json"), "200"); return err }, "0 of 2000"},
		{"wrk without a distribution", func() error { _, err := parseWrk([]byte("Running 1s test\n")); return err }, "p50 and p90"},
		{"ghz call failed", func() error {
			_, err := parseGhz(bytes.Replace(ghz, []byte(`"OK": 999`), []byte(`"OK": 998, "Unavailable": 1`), 1))
			return err
		}, "998 of 999"},
		{"ghz error", func() error {
			_, err := parseGhz(bytes.Replace(ghz, []byte(`"errorDistribution": {}`), []byte(`"errorDistribution": {"connection refused": 1}`), 1))
			return err
		}, "connection refused"},
		{"sockperf one-way latency", func() error {
			_, err := parseSockperf(bytes.Replace(sockperf, []byte("Summary: Round trip is"), []byte("Summary: Latency is"), 1))
			return err
		}, "--full-rtt"},
		{"sockperf lost a message", func() error {
			_, err := parseSockperf(bytes.Replace(sockperf, []byte("# dropped messages = 0"), []byte("# dropped messages = 3"), 1))
			return err
		}, "lost"},
		{"iperf3 error", func() error {
			_, err := parseIperf3([]byte(`{"error": "unable to connect to server: Connection refused"}`))
			return err
		}, "Connection refused"},
		{"iperf3 moved nothing", func() error { _, err := parseIperf3([]byte(`{"end": {}}`)); return err }, "no bytes"},
		{"netperf without its p90", func() error {
			_, err := parseNetperf(bytes.Replace(readTestdata(t, "netperf.txt"), []byte("P90_LATENCY=73\n"), nil, 1))
			return err
		}, "p50, p90 and transaction rate"},
		{"netperf's figure unreadable", func() error { _, err := parseNetperf([]byte("P50_LATENCY=n/a\n")); return err }, "P50_LATENCY"},
		{"netperf without a server", func() error {
			_, err := parseNetperf([]byte("establish control: are you sure there is a netserver listening on 10.244.0.3 at port 5201?\n"))
			return err
		}, "p50, p90 and transaction rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.parse(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// netperf's keyval report (-k P50_LATENCY,P90_LATENCY,TRANSACTION_RATE,
// captured from netperf 2.7.0's TCP_CRR, with its test header) gives the
// p50, p90 and exchanges/s; the header is no figure.
func TestParseNetperf(t *testing.T) {
	got, err := parseNetperf(readTestdata(t, "netperf.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (netperfResult{l: results.Latency{P50: 54, P90: 73}, rate: 16264.422}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// Without netperf, tcp-crr's line says it was not cross-checked and why,
// as information, not as a failed target.
func TestTCPCRRWithoutNetperf(t *testing.T) {
	checks, err := (&Runner{}).tcpCRRCheck(context.Background(), crossing{rounds: 1, d: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 1 || !checks[0].Info || !strings.Contains(checks[0].Measured, "netperf not installed") {
		t.Errorf("got %+v, want one Info check saying netperf is not installed", checks)
	}
}

// A tcp-crr miss gives both sides' exchanges/s and netperf's CPU, and
// says the gap is not pacing: both ran closed loop.
func TestBothClosed(t *testing.T) {
	got := bothClosed(10416, 1445.4, []float64{0.2, 0.23, 0.3})
	for _, want := range []string{"both ran closed loop", "netperf at 10416 exchanges/s", "23% of a core", "meshbench at 1445/s", "not pacing"} {
		if !strings.Contains(got, want) {
			t.Errorf("bothClosed = %q, want it to contain %q", got, want)
		}
	}
	if got := bothClosed(1, 1, nil); got != "" {
		t.Errorf("bothClosed without netperf's CPU = %q, want nothing", got)
	}
}

// iperf3's report (-J, captured from iperf3 3.12) gives the throughput its
// server received and both ends' CPU use.
func TestParseIperf3(t *testing.T) {
	got, err := parseIperf3(readTestdata(t, "iperf3.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := iperf3Result{gbps: 33.094178667437115, sender: 95.65198781628874, receiver: 52.82381697399268}
	if math.Abs(got.gbps-want.gbps) > 1e-9 || got.sender != want.sender || got.receiver != want.receiver {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// The like-for-like check compares with the better of the tools, and
// fails above its target of it, with the reason given for a miss.
func TestCompareLatency(t *testing.T) {
	wrk := results.Latency{P50: 200, P90: 300}
	fortio := results.Latency{P50: 220, P90: 280}
	checks := compareLatency("none", 1.05, 3, results.Latency{P50: 209, P90: 300},
		[]toolLatency{{"wrk", wrk}, {"fortio", fortio}}, func(q int, best float64) string { return fmt.Sprintf("q%d best %.0f", q, best) })
	if len(checks) != 2 {
		t.Fatalf("got %d checks, want p50 and p90", len(checks))
	}
	if c := checks[0]; !c.Pass || c.Why != "" || c.Name != "none p50 from actual send vs the better of wrk and fortio" ||
		c.Measured != "209µs vs wrk 200µs, fortio 220µs (1.04×), medians of 3 interleaved rounds" {
		t.Errorf("p50 209 vs best 200: %+v, want a pass at 1.04×", c)
	}
	if c := checks[1]; c.Pass || c.Why != "q1 best 280" || !strings.Contains(c.Measured, "(1.07×)") {
		t.Errorf("p90 300 vs best 280: %+v, want a miss at 1.07× with its reason", c)
	}
	one := compareLatency("grpc", 1.15, 1, results.Latency{P50: 100, P90: 200}, []toolLatency{{"ghz", results.Latency{P50: 100, P90: 150}}}, nil)
	if one[0].Name != "grpc p50 from actual send vs ghz" || !one[0].Pass || one[1].Pass {
		t.Errorf("against one tool: %+v, want p50 passing, p90 (1.33×) missing", one)
	}
}

// interleave runs its measurers round-robin and gives each one's median
// per figure.
func TestInterleave(t *testing.T) {
	var order []string
	rounds := map[string][][]float64{
		"a": {{1, 10}, {3, 30}, {2, 20}},
		"b": {{5}, {4}, {6}},
	}
	next := func(name string) measurer {
		i := 0
		return func() ([]float64, error) {
			order = append(order, name)
			i++
			return rounds[name][i-1], nil
		}
	}
	got, err := interleave(3, next("a"), next("b"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "a b a b a b"; strings.Join(order, " ") != want {
		t.Errorf("order %v, want %s", order, want)
	}
	if len(got) != 2 || got[0][0] != 2 || got[0][1] != 20 || got[1][0] != 5 {
		t.Errorf("medians %v, want [[2 20] [5]]", got)
	}
	if _, err := interleave(0, next("b")); err == nil {
		t.Error("no rounds: no error")
	}
	failing := func() ([]float64, error) { return nil, errors.New("tool died") }
	if _, err := interleave(3, next("a"), failing); err == nil || err.Error() != "tool died" {
		t.Errorf("a failing measurer: error %v", err)
	}
}

// A sockperf client that spun is named as the reason of a miss; one that
// did not is not blamed.
func TestSpinning(t *testing.T) {
	if why := spinning([]float64{0.6, 0.55, 0.7}); !strings.Contains(why, "60% of a core") {
		t.Errorf("spinning at 60%%: %q", why)
	}
	if why := spinning([]float64{0.05, 0.1, 0.02}); why != "" {
		t.Errorf("idle sockperf blamed: %q", why)
	}
}

// The lateness check needs both p50 and p99 within target, and fails when
// lateness was not measured.
func TestLatenessCheck(t *testing.T) {
	tests := []struct {
		late *results.Lateness
		pass bool
	}{
		{&results.Lateness{P50: 19, P99: 150}, true},
		{&results.Lateness{P50: 25, P99: 150}, false},
		{&results.Lateness{P50: 10, P99: 250}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if c := latenessCheck("pacer", results.Repetition{PacerLatenessUS: tt.late}); c.Pass != tt.pass {
			t.Errorf("lateness %+v: %+v, want pass %v", tt.late, c, tt.pass)
		}
	}
}

// The stream checks compare throughput and throughput per core of the
// sending side within ±15%, and a throughput miss names the CPU each side had.
func TestStreamChecks(t *testing.T) {
	iperf := streamFigures(iperf3Result{gbps: 10, sender: 25, receiver: 24})
	mine := streamFigures(iperf3Result{gbps: 20, sender: 48, receiver: 47})
	checks := streamChecks(3, mine, iperf)
	if len(checks) != 2 {
		t.Fatalf("got %d checks, want throughput and per core", len(checks))
	}
	raw, perCore := checks[0], checks[1]
	if raw.Pass || !strings.Contains(raw.Measured, "20.00 vs 10.00 Gbit/s (+100%)") ||
		!strings.Contains(raw.Why, "senders 48% and 25% of a core") || !strings.Contains(raw.Why, "41.7 vs 40.0 Gbit/s") {
		t.Errorf("throughput twice iperf3's: %+v, want a miss naming the CPU shares", raw)
	}
	if !perCore.Pass || !strings.Contains(perCore.Measured, "41.7 vs 40.0 (+4%)") {
		t.Errorf("per core 41.7 vs 40: %+v, want a pass", perCore)
	}
	if c := streamChecks(1, streamFigures(iperf3Result{gbps: 11, sender: 50, receiver: 40}), streamFigures(iperf3Result{gbps: 10, sender: 50, receiver: 40})); !c[0].Pass || c[0].Why != "" || !c[1].Pass {
		t.Errorf("10%% apart at the same CPU: %+v, want both passing", c)
	}
}

// sentFigures counts the requests that left a millisecond or more late
// apart, and bursts names them as the reason of a miss once they are 1% or
// more.
func TestSentFigures(t *testing.T) {
	var samples []results.Sample
	for i := range 100 {
		late, service := 10*time.Microsecond, 100*time.Microsecond
		if i < 4 { // released 2ms late, in a burst: they queued
			late, service = 2*time.Millisecond, 900*time.Microsecond
		}
		samples = append(samples, results.Sample{Seq: uint64(i), Latency: late + service, Service: service, Code: 200})
	}
	samples = append(samples, results.Sample{Seq: 100, Latency: 5 * time.Millisecond, Service: time.Millisecond, Error: "timeout"})
	got, err := sentFigures(samples)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || math.Abs(got[2]-0.04) > 1e-9 || math.Abs(got[3]-100) > 0.1 || math.Abs(got[4]-100) > 0.1 {
		t.Fatalf("figures %v, want p50, p90, 4%% late, 100µs, 100µs on time", got)
	}
	why := bursts(got, 1.05)
	if w := why(1, 100); !strings.Contains(w, "4.0% of meshbench's requests left 1ms or more late") || !strings.Contains(w, "the others' p90: 100µs") || strings.Contains(w, "whole gap") {
		t.Errorf("bursts explaining a p90 miss: %q", w)
	}
	if w := why(0, 50); !strings.Contains(w, "the others' p50: 100µs (2.00×: the bursts are not the whole gap)") {
		t.Errorf("bursts not explaining a p50 miss: %q", w)
	}
	if w := bursts([]float64{100, 200, 0.005, 100, 190}, 1.05)(0, 50); w != "" {
		t.Errorf("0.5%% late blamed: %q", w)
	}
}

// The call ghz sends is a serialised BytesValue of the size asked for.
func TestBytesValue(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 1024} {
		var v wrapperspb.BytesValue
		if err := proto.Unmarshal(bytesValue(n), &v); err != nil || len(v.GetValue()) != n {
			t.Errorf("bytesValue(%d) decodes to %d bytes (%v)", n, len(v.GetValue()), err)
		}
	}
}

// cpuWaited sees the machine's CPUs oversubscribed: one busy process more
// than there are CPUs keeps some task waiting nearly all the time.
func TestCPUWaited(t *testing.T) {
	if _, ok := cpuSomeStall(); !ok {
		testutil.Skip(t, "the kernel has no CPU pressure accounting (/proc/pressure/cpu): build it with CONFIG_PSI")
	}
	waited, err := cpuWaited(func() error {
		var spinners []*exec.Cmd
		for range runtime.NumCPU() + 1 {
			c := exec.Command("/bin/sh", "-c", "while :; do :; done")
			if err := c.Start(); err != nil {
				return err
			}
			spinners = append(spinners, c)
		}
		time.Sleep(500 * time.Millisecond)
		for _, c := range spinners {
			c.Process.Kill()
			c.Wait()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if waited < 0.5 {
		t.Errorf("%d spinners on %d CPUs: some task waited %.0f%% of the time, want most of it", runtime.NumCPU()+1, runtime.NumCPU(), 100*waited)
	}
	if _, err := cpuWaited(func() error { return errors.New("no") }); err == nil {
		t.Error("cpuWaited dropped fn's error")
	}
}
