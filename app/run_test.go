package app

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
)

// TestRunQuickNone runs `meshbench run quick --datapaths none` for real and
// checks the result file, the host's network and that nothing is left.
func TestRunQuickNone(t *testing.T) {
	testutil.Privileged(t)
	before := testutil.HostNetwork(t)
	out := t.TempDir()
	var stdout, stderr strings.Builder
	err := Run(context.Background(), []string{"run", "quick", "--datapaths", "none", "--duration", "2s",
		"--repetitions", "1", "--out", out}, nil, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`result: (\S+)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("stdout does not say where the result went:\n%s", stdout.String())
	}
	run, err := results.Read(m[1])
	if err != nil {
		t.Fatal(err)
	}
	env := run.Environment
	if env.Kernel == "" || env.CPUs < 1 || env.GoVersion == "" || run.ScenarioHash == "" {
		t.Errorf("environment incomplete: %+v, scenario hash %q", env, run.ScenarioHash)
	}
	if len(run.Cases) != 2 {
		t.Fatalf("cases: got %d, want 2 (same-node and cross-node)", len(run.Cases))
	}
	for _, c := range run.Cases {
		if c.Status != "ok" {
			t.Errorf("%s: status %s: %s", c.ID, c.Status, c.Error)
			continue
		}
		l := c.LatencyUS
		if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
			t.Errorf("%s: latency percentiles not ordered and positive: %+v", c.ID, l)
		}
		if c.AchievedRPS < 0.95*c.Rate || c.ErrorRate != 0 {
			t.Errorf("%s: achieved %.0f of %.0f req/s with error rate %g", c.ID, c.AchievedRPS, c.Rate, c.ErrorRate)
		}
		if c.AchievedFraction == nil || c.PacerLatenessUS == nil {
			t.Errorf("%s: achieved fraction %v, pacer lateness %v, want both", c.ID, c.AchievedFraction, c.PacerLatenessUS)
		}
		if len(c.Repetitions) != 1 || c.Repetitions[0].Histogram == "" {
			t.Errorf("%s: repetitions %d, want 1 with its histogram", c.ID, len(c.Repetitions))
		} else if _, err := results.ReadSamples(filepath.Join(m[1], "..", c.Repetitions[0].Samples)); err != nil {
			t.Errorf("%s: raw samples: %v", c.ID, err)
		}
		if c.Path == nil || c.Path.HopsPerRequest <= 0 || len(c.Path.Trace) == 0 {
			t.Errorf("%s: packet path missing: %+v", c.ID, c.Path)
		}
	}
	if after := testutil.HostNetwork(t); after != before {
		t.Errorf("the run changed the host's network namespace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	assertNoLeftovers(t, run.ID)
}

// TestInterruptTearsDown sends SIGINT to a run in its measurement phase:
// the run must stop and leave nothing behind, whatever the datapath
// installed (proxies, netfilter tables, BPF programs on the run's cgroups
// and devices, which go with them; meshbench pins nothing).
func TestInterruptTearsDown(t *testing.T) {
	testutil.Privileged(t)
	for _, dp := range []string{"none", "sidecar", "ebpf"} {
		t.Run(dp, func(t *testing.T) {
			pinned := bpffsEntries(t)
			cmd, runID := startRun(t, "Measuring", "--datapaths", dp, "--duration", "30s", "--out", t.TempDir())
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != exitFailure {
				t.Errorf("exit code after SIGINT: got %d (%v), want %d", code, err, exitFailure)
			}
			assertNoLeftovers(t, runID)
			if after := bpffsEntries(t); after != pinned {
				t.Errorf("the run pinned BPF objects: before %q, after %q", pinned, after)
			}
		})
	}
}

// wireguardScenario writes a scenario of none over wireguard, cross-node.
func wireguardScenario(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "wireguard.yaml")
	body := "apiVersion: meshbench/v1alpha1\nkind: Scenario\ntopology: {nodes: 2, placements: [cross-node]}\n" +
		"datapaths: [none]\ndatapathOptions:\n  none: {encryption: wireguard}\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestWireGuardInterruptAndKill checks that a run over wireguard leaves
// nothing after SIGINT, nor after SIGKILL and `meshbench cleanup --run`:
// no namespace (with the nodes' devices, routes and rules), agent process
// or state directory (with the keys), and the host's network unchanged.
func TestWireGuardInterruptAndKill(t *testing.T) {
	testutil.Privileged(t)
	before := testutil.HostNetwork(t)
	scenario := wireguardScenario(t)
	t.Run("interrupt", func(t *testing.T) {
		cmd, runID := startScenario(t, scenario, "Measuring", "--duration", "30s", "--out", t.TempDir())
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != exitFailure {
			t.Errorf("exit code after SIGINT: got %d (%v), want %d", code, err, exitFailure)
		}
		assertNoLeftovers(t, runID)
	})
	t.Run("kill", func(t *testing.T) {
		cmd, runID := startScenario(t, scenario, "Measuring", "--duration", "30s", "--out", t.TempDir())
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if _, err := os.Stat(filepath.Join("/run/meshbench", runID+"0", "wireguard")); err != nil {
			t.Errorf("a SIGKILLed run left no keys to clean up (%v): the test did not kill it mid-case", err)
		}
		if err := Run(context.Background(), []string{"cleanup", "--run", runID}, nil, io.Discard, io.Discard); err != nil {
			t.Fatalf("cleanup: %v", err)
		}
		assertNoLeftovers(t, runID)
	})
	if after := testutil.HostNetwork(t); after != before {
		t.Errorf("host network changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// bpffsEntries lists what is pinned in the BPF filesystem.
func bpffsEntries(tb testing.TB) string {
	tb.Helper()
	var names []string
	_ = filepath.WalkDir("/sys/fs/bpf", func(p string, _ os.DirEntry, err error) error {
		if err == nil {
			names = append(names, p)
		}
		return nil
	})
	return strings.Join(names, " ")
}

// TestKillThenCleanup kills a run with SIGKILL, which no teardown survives,
// and checks that `meshbench cleanup --run` removes all it left.
func TestKillThenCleanup(t *testing.T) {
	testutil.Privileged(t)
	cmd, runID := startRun(t, "Measuring", "--datapaths", "none", "--duration", "30s", "--out", t.TempDir())
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if left := leftovers(t, runID); left.Empty() {
		t.Fatal("a SIGKILLed run left nothing: the test did not kill it mid-case")
	}
	var stdout strings.Builder
	if err := Run(context.Background(), []string{"cleanup", "--run", runID}, nil, &stdout, io.Discard); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if !strings.Contains(stdout.String(), "deleted network namespace") {
		t.Errorf("cleanup output does not list what it removed:\n%s", stdout.String())
	}
	assertNoLeftovers(t, runID)
}

// startRun starts `meshbench run quick ARGS` as a child process and returns once
// its progress shows stage; the child's run id comes from its first line.
func startRun(tb testing.TB, stage string, args ...string) (*exec.Cmd, string) {
	tb.Helper()
	if len(args) == 0 {
		args = []string{"--datapaths", "none", "--duration", "30s"}
	}
	return startScenario(tb, "quick", stage, args...)
}

// startScenario is startRun of `meshbench run SCENARIO ARGS`.
func startScenario(tb testing.TB, scenario, stage string, args ...string) (*exec.Cmd, string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"run", scenario, "--repetitions", "1"}, args...)...)
	cmd.Env = append(os.Environ(), appEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		var runID string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := regexp.MustCompile(`run ([0-9a-f]+): scenario`).FindStringSubmatch(sc.Text()); m != nil {
				runID = m[1]
			}
			if strings.Contains(sc.Text(), stage) && runID != "" {
				found <- runID
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case id := <-found:
		time.Sleep(300 * time.Millisecond)
		return cmd, id
	case <-time.After(60 * time.Second):
		tb.Fatalf("the run did not reach %q", stage)
	}
	return nil, ""
}

// leftovers lists what the run's clusters left: each case's cluster id
// starts with the run id.
func leftovers(tb testing.TB, runID string) netns.Removed {
	tb.Helper()
	all, err := netns.Leftovers("")
	if err != nil {
		tb.Fatal(err)
	}
	var mine netns.Removed
	for _, n := range all.Namespaces {
		if strings.HasPrefix(n, "mb-"+runID) {
			mine.Namespaces = append(mine.Namespaces, n)
		}
	}
	for _, c := range all.Cgroups {
		if strings.Contains(c, "/meshbench-"+runID) {
			mine.Cgroups = append(mine.Cgroups, c)
		}
	}
	for _, p := range all.Processes {
		if env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.PID), "environ")); err == nil &&
			strings.Contains(string(env), netns.RunIDEnv+"="+runID) {
			mine.Processes = append(mine.Processes, p)
		}
	}
	return mine
}

func assertNoLeftovers(tb testing.TB, runID string) {
	tb.Helper()
	if left := leftovers(tb, runID); !left.Empty() {
		tb.Errorf("run %s left %+v", runID, left)
	}
	if _, err := os.Stat(filepath.Join("/run/meshbench", runID+"0")); err == nil {
		tb.Errorf("run %s left its state directory", runID)
	}
}

// TestKillKeepsFinishedCases SIGKILLs a run after its first case and checks
// that result.json holds that case, says the run is partial, and that
// `report` says so.
func TestKillKeepsFinishedCases(t *testing.T) {
	testutil.Privileged(t)
	out := t.TempDir()
	cmd, runID := startRun(t, "Measuring", "--datapaths", "none", "--duration", "1s", "--out", out)
	var path string
	deadline := time.Now().Add(60 * time.Second)
	for path == "" && time.Now().Before(deadline) {
		if m, _ := filepath.Glob(filepath.Join(out, "*", "result.json")); len(m) > 0 {
			path = m[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if path == "" {
		t.Fatal("no result.json after 60 s: the first case's result was not written")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	t.Cleanup(func() {
		_ = Run(context.Background(), []string{"cleanup", "--run", runID}, nil, io.Discard, io.Discard)
	})
	run, err := results.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Cases) == 0 || run.Cases[0].Status != "ok" || !run.Partial || run.PlannedCases != 2 {
		t.Fatalf("result after SIGKILL: %d cases (first %+v), partial %v, planned %d; want the first case ok, partial, 2 planned",
			len(run.Cases), run.Cases, run.Partial, run.PlannedCases)
	}
	var stdout strings.Builder
	if err := Run(context.Background(), []string{"report", path}, nil, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "partial: 1 of 2 cases"; !strings.Contains(stdout.String(), want) {
		t.Errorf("report of a killed run does not say %q:\n%s", want, stdout.String())
	}
}
