package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/resultstest"
)

// writeRun writes run as a run directory and returns it.
func writeRun(tb testing.TB, run *results.Run) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := results.Write(dir, run); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// runApp runs meshbench with args and returns its stdout, stderr and exit
// code.
func runApp(tb testing.TB, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, nil, &out, &errOut)
	code = exitCode(err, &errOut)
	return out.String(), errOut.String(), code
}

func TestCompareCommandWithItself(t *testing.T) {
	dir := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	stdout, stderr, code := runApp(t, "compare", dir, filepath.Join(dir, results.ResultFile))
	if code != 0 {
		t.Fatalf("compare exit %d, stderr:\n%s", code, stderr)
	}
	for _, bad := range []string{"better", "worse", "inconclusive"} {
		if strings.Contains(stdout, bad) {
			t.Errorf("comparing a run with itself says %q:\n%s", bad, stdout)
		}
	}
	if !strings.Contains(stdout, "no significant change") {
		t.Errorf("output lacks the verdicts:\n%s", stdout)
	}
}

// doctored returns a copy of the fixture whose mesh datapaths' p99 doubled
// in every repetition and whose packet paths grew by one hop.
func doctored(tb testing.TB) *results.Run {
	tb.Helper()
	run := resultstest.Run(tb, resultstest.Options{})
	for i := range run.Cases {
		c := &run.Cases[i]
		if c.Datapath == results.NoneDatapath {
			continue
		}
		for j := range c.Repetitions {
			c.Repetitions[j].LatencyUS.P99 *= 2
		}
		c.LatencyUS.P99 *= 2
		c.Path.HopsPerRequest++
	}
	return run
}

func TestGateCommand(t *testing.T) {
	base := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	cand := writeRun(t, doctored(t))
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"same run", []string{"gate", base, base}, 0, []string{"gate: ok"}},
		{"doctored", []string{"gate", base, cand}, 1, []string{"REGRESSION", "p99_overhead", "hops", "gate: 12 regressions"}},
		{"limits off", []string{"gate", base, cand, "--max", "p99_overhead=off,hops=off"}, 0, []string{"gate: ok"}},
		{"loose limits", []string{"gate", base, cand, "--max", "p99_overhead=150%,hops=1"}, 0, []string{"gate: ok"}},
		{"verbose", []string{"gate", "-v", base, cand}, 1, []string{"VERDICT", "worse", "REGRESSION"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runApp(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

// TestResultCommandsBadInput checks that unusable inputs exit 2 with a
// message naming the file, for every command that reads runs.
func TestResultCommandsBadInput(t *testing.T) {
	good := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	other := writeRun(t, resultstest.Run(t, resultstest.Options{Rates: []float64{500}}))
	badGate := resultstest.Run(t, resultstest.Options{})
	badGate.Gate = map[string]string{"latency": "10%"}
	badGateDir := writeRun(t, badGate)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	data, err := os.ReadFile(filepath.Join(good, results.ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	truncated := write("truncated.json", string(data[:len(data)/2]))
	foreign := write("foreign.json", `{"name": "not a meshbench result"}`)
	future := write("future.json", `{"schema_version": 99, "cases": []}`)
	missing := filepath.Join(dir, "no-such-run")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"compare missing base", []string{"compare", missing, good}, "no-such-run"},
		{"compare truncated candidate", []string{"compare", good, truncated}, "truncated.json: not a usable meshbench result: truncated JSON"},
		{"gate foreign", []string{"gate", foreign, good}, "foreign.json: not a usable meshbench result: foreign JSON"},
		{"gate future schema", []string{"gate", good, future}, "future.json: not a usable meshbench result: schema version 99"},
		{"gate no case in common", []string{"gate", good, other}, "the runs have no case in common"},
		{"compare no case in common", []string{"compare", good, other}, "the runs have no case in common"},
		{"gate bad --max", []string{"gate", good, good, "--max", "hops=-1"}, "--max"},
		{"gate bad scenario gate", []string{"gate", good, badGateDir}, "gate thresholds recorded in " + badGateDir},
		{"gate one argument", []string{"gate", good}, "gate takes 2 to 2 arguments"},
		{"report missing", []string{"report", missing}, "no-such-run"},
		{"report corrupt", []string{"report", truncated}, "truncated.json"},
		{"export corrupt", []string{"export", foreign}, "foreign.json"},
		{"export unknown format", []string{"export", "--format", "yaml", good}, `--format "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runApp(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("stderr is more than one line:\n%s", stderr)
			}
		})
	}
}

func TestReportCommand(t *testing.T) {
	dir := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	stdout, stderr, code := runApp(t, "report", dir)
	if code != 0 {
		t.Fatalf("report exit %d, stderr:\n%s", code, stderr)
	}
	for _, w := range []string{"P99 VS NONE", "report: " + filepath.Join(dir, "report.html")} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout)
		}
	}
	for _, f := range []string{"report.html", "report.md", "charts/point-1-latency.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report did not write %s: %v", f, err)
		}
	}
}

func TestExportCommand(t *testing.T) {
	dir := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	tests := []struct {
		format, want string
	}{
		{"benchstat", "BenchmarkMesh/datapath=sidecar-l4/placement=same-node/svc=1/rate=1000/conns=8/req=0/resp=1024 2000 "},
		{"csv", "run,scenario,case,datapath,"},
		{"smp", `"RequestedQPS": "1000"`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			stdout, stderr, code := runApp(t, "export", "--format", tt.format, dir)
			if code != 0 || !strings.Contains(stdout, tt.want) {
				t.Errorf("exit %d, stdout lacks %q:\n%s\nstderr:\n%s", code, tt.want, stdout, stderr)
			}
		})
	}
	out := filepath.Join(t.TempDir(), "run.txt")
	if _, stderr, code := runApp(t, "export", "-o", out, dir); code != 0 {
		t.Fatalf("export -o: exit %d: %s", code, stderr)
	}
	if data, err := os.ReadFile(out); err != nil || !bytes.Contains(data, []byte("BenchmarkMesh/")) {
		t.Errorf("export -o wrote %q, %v", data, err)
	}
}
