package app

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/resultstest"
)

// TestGateSubsetRerun gates a rerun of one datapath, with none, against
// the full run: it passes, and says what it left out.
func TestGateSubsetRerun(t *testing.T) {
	base := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	rerun := writeRun(t, resultstest.Run(t, resultstest.Options{Datapaths: []string{"none", "nodeproxy"}}))
	for _, tt := range []struct{ cmd, want string }{
		{"gate", "warning: only in base, not compared: 4 cases (sidecar 2, ebpf 2)"},
		{"compare", "left out: 4 cases (sidecar 2, ebpf 2) only in base, not compared"},
	} {
		stdout, stderr, code := runApp(t, tt.cmd, base, rerun)
		if code != 0 {
			t.Fatalf("%s exit %d\nstdout:\n%s\nstderr:\n%s", tt.cmd, code, stdout, stderr)
		}
		if !strings.Contains(stdout, tt.want) {
			t.Errorf("%s does not say what it left out (%q):\n%s", tt.cmd, tt.want, stdout)
		}
	}
}

func TestCompareFormats(t *testing.T) {
	base := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	cand := writeRun(t, doctored(t))
	stdout, stderr, code := runApp(t, "compare", "--format", "markdown", base, cand)
	if code != 0 || !strings.HasPrefix(stdout, "### meshbench compare:") || !strings.Contains(stdout, "| sidecar/same-node |") {
		t.Errorf("compare --format markdown: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	stdout, stderr, code = runApp(t, "compare", "--format", "json", base, cand)
	var got struct{ Rows []struct{ Verdict string } }
	if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil || len(got.Rows) == 0 {
		t.Errorf("compare --format json: exit %d, decode %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	if _, stderr, code := runApp(t, "compare", "--format", "html", base, cand); code != 2 || !strings.Contains(stderr, `--format "html"`) {
		t.Errorf("compare --format html: exit %d, stderr %q; want 2 naming the flag", code, stderr)
	}
}

func TestGateMachineOutput(t *testing.T) {
	base := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	cand := writeRun(t, doctored(t))
	junit := filepath.Join(t.TempDir(), "gate.xml")
	stdout, stderr, code := runApp(t, "gate", "--format", "json", "--junit", junit, base, cand)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var got struct {
		OK         bool
		Violations []struct{ Metric string }
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || got.OK || len(got.Violations) != 12 {
		t.Errorf("gate --format json: decode %v, ok %v, %d violations, want 12\n%s", err, got.OK, len(got.Violations), stdout)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(data, &suites); err != nil || suites.Failures != 12 {
		t.Errorf("--junit: decode %v, %d failures, want 12\n%s", err, suites.Failures, data)
	}

	for _, flag := range []string{"-v", "--verbose"} {
		if stdout, _, _ := runApp(t, "gate", flag, base, cand); !strings.Contains(stdout, "VERDICT") {
			t.Errorf("gate %s does not print the comparison:\n%s", flag, stdout)
		}
	}

	missingDir := filepath.Join(t.TempDir(), "no-such-dir", "gate.xml")
	if _, stderr, code := runApp(t, "gate", "--junit", missingDir, base, cand); code != 2 || !strings.Contains(stderr, "--junit") {
		t.Errorf("gate --junit into a missing directory: exit %d, stderr %q; want 2 naming --junit", code, stderr)
	}
	if _, stderr, code := runApp(t, "gate", "--format", "xml", base, cand); code != 2 || !strings.Contains(stderr, `--format "xml"`) {
		t.Errorf("gate --format xml: exit %d, stderr %q; want 2 naming the flag", code, stderr)
	}
}

func TestCompareHTML(t *testing.T) {
	base := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	cand := writeRun(t, doctored(t))
	out := filepath.Join(t.TempDir(), "compare.html")
	if _, stderr, code := runApp(t, "compare", "--html", out, base, cand); code != 0 {
		t.Fatalf("compare --html: exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Each run's own report, escaped into its frame.
	if n := strings.Count(string(data), "srcdoc=\"&lt;!DOCTYPE html&gt;"); n != 2 {
		t.Errorf("%d embedded reports, want 2", n)
	}
	other := writeRun(t, resultstest.Run(t, resultstest.Options{Rates: []float64{500}}))
	gone := filepath.Join(t.TempDir(), "none.html")
	if _, _, code := runApp(t, "compare", "--html", gone, base, other); code != 2 {
		t.Errorf("compare --html of runs without a common case: exit %d, want 2", code)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("compare --html wrote %s for unusable input: %v", gone, err)
	}
}
