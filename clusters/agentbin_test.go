package clusters_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/testutil"
)

// Agents run the slim binary when it lies beside the running executable,
// and the running executable otherwise.
func TestAgentExecutable(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got, slim, err := clusters.AgentExecutable()
	if err != nil || got != self || slim {
		t.Fatalf("without %s: AgentExecutable() = %q, %v, %v, want %q, false", clusters.AgentBinaryName, got, slim, err, self)
	}
	beside := filepath.Join(filepath.Dir(self), clusters.AgentBinaryName)
	if err := os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(beside) })
	if got, slim, _ := clusters.AgentExecutable(); got != self || slim {
		t.Errorf("with a %s that is not executable: AgentExecutable() = %q, %v, want the running executable", clusters.AgentBinaryName, got, slim)
	}
	if err := os.Chmod(beside, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, slim, _ := clusters.AgentExecutable(); got != beside || !slim {
		t.Errorf("with %s beside: AgentExecutable() = %q, %v, want %q, true", clusters.AgentBinaryName, got, slim, beside)
	}
}

// The slim agent binary carries none of the CLI's heavy dependencies: a
// proxy's or node agent's memory must not grow when the CLI gains one.
func TestAgentBinarySlim(t *testing.T) {
	gobin := testutil.LookPath(t, "go", "the Go toolchain, as for building meshbench")
	out, err := exec.Command(gobin, "list", "-deps", "github.com/meshbench/meshbench/cmd/meshbench-agent").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps found %d packages, too few to be the agent's", len(deps))
	}
	for _, d := range deps {
		for _, heavy := range []string{"k8s.io/", "sigs.k8s.io/", "gonum.org/", "github.com/google/go-containerregistry", "github.com/spf13/cobra"} {
			if strings.HasPrefix(d, heavy) {
				t.Errorf("meshbench-agent depends on %s", d)
			}
		}
	}
}
