package app

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
)

// TestProcessDiesMidCase kills a workload or a sidecar while the first case
// measures: that case must fail with an error naming what died and where,
// the next case must still run, and nothing may be left.
func TestProcessDiesMidCase(t *testing.T) {
	testutil.Privileged(t)
	tests := []struct {
		name, datapath, role string
		want                 []string
	}{
		{"server", "none", "server", []string{"server in pod svc-000-0 on node n0 was killed by SIGKILL"}},
		{"sidecar", "sidecar", "proxy", []string{"pod", "on node n0 was killed by SIGKILL"}},
		{"ebpf loader", "ebpf", "ebpf", []string{"ebpf agent on node n", "was killed by SIGKILL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			cmd, runID := startRun(t, "Measuring", "--datapaths", tt.datapath, "--duration", "3s", "--out", out)
			killed := killAgent(t, runID+"0", tt.role)
			_ = cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != exitFailure {
				t.Errorf("exit code: got %d, want %d (a case failed)", code, exitFailure)
			}
			dirs, _ := filepath.Glob(filepath.Join(out, "*"))
			if len(dirs) != 1 {
				t.Fatalf("run directories: %v", dirs)
			}
			run, err := results.Read(dirs[0])
			if err != nil {
				t.Fatal(err)
			}
			if len(run.Cases) != 2 {
				t.Fatalf("cases: got %d, want 2: the run must go on after a failed case", len(run.Cases))
			}
			first, second := run.Cases[0], run.Cases[1]
			t.Logf("failed case says: %s", first.Error)
			if first.Status != "failed" {
				t.Errorf("case with the killed %s (pid %d): status %q, want failed", tt.role, killed, first.Status)
			}
			for _, w := range tt.want {
				if !strings.Contains(first.Error, w) {
					t.Errorf("error %q does not name %q", first.Error, w)
				}
			}
			if second.Status != "ok" {
				t.Errorf("next case: status %q (%s), want ok", second.Status, second.Error)
			}
			assertNoLeftovers(t, runID)
		})
	}
}

// killAgent SIGKILLs the first `meshbench agent ROLE` process of the
// cluster clusterID and returns its pid.
func killAgent(tb testing.TB, clusterID, role string) int {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
			// agent.FilesOnStdin may come between `agent` and the role.
			if err != nil || !strings.Contains(string(cmdline), "\x00agent\x00") || !strings.Contains(string(cmdline), "\x00"+role+"\x00") {
				continue
			}
			env, err := os.ReadFile(filepath.Join(p, "environ"))
			if err != nil || !strings.Contains(string(env), netns.RunIDEnv+"="+clusterID+"\x00") {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(p))
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				tb.Fatal(err)
			}
			return pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("no agent %s in cluster %s", role, clusterID)
	return 0
}
