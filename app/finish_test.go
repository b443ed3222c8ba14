package app

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/report"
)

// TestFinishSaysBoth checks that when the record and reports cannot be
// written (a full disk, here a run directory that is a file), the error
// says so and still says that a case failed.
func TestFinishSaysBoth(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run := &results.Run{
		SchemaVersion: results.SchemaVersion,
		ID:            "0123abcd",
		Scenario:      "quick",
		Cases: []results.Case{
			{ID: "none/a", Datapath: "none", Status: "ok"},
			{ID: "none/b", Datapath: "none", Status: "failed", Error: "server died"},
		},
	}
	err := finish(dir, run, nil, io.Discard, report.TerminalOptions{})
	if err == nil {
		t.Fatal("finish: no error, want the failed case and the write error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "1 of 2 cases failed") {
		t.Errorf("error %q does not say that 1 of 2 cases failed", msg)
	}
	if !strings.Contains(msg, "not a directory") {
		t.Errorf("error %q does not say why the result could not be written", msg)
	}
	if code := exitCode(err, io.Discard); code != exitFailure {
		t.Errorf("exit code %d, want %d", code, exitFailure)
	}
}
