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
	t.Cleanup(func() { os.Remove(beside) })
	// A copy of the running executable is a binary of the same build.
	same, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		content []byte
		mode    os.FileMode
		slim    bool
	}{
		{"not executable", same, 0o644, false},
		{"not a Go binary", []byte("#!/bin/sh\n"), 0o755, false},
		{"the same build", same, 0o755, true},
	} {
		if err := os.WriteFile(beside, tt.content, tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(beside, tt.mode); err != nil {
			t.Fatal(err)
		}
		want := self
		if tt.slim {
			want = beside
		}
		if got, slim, _ := clusters.AgentExecutable(); got != want || slim != tt.slim {
			t.Errorf("with a %s beside that is %s: AgentExecutable() = %q, %v, want %q, %v", clusters.AgentBinaryName, tt.name, got, slim, want, tt.slim)
		}
		os.Remove(beside)
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
