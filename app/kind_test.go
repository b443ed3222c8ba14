package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKindWithoutEngine checks that --provider kind on a host whose docker
// command cannot reach a daemon, and without podman (as on the CI machine),
// is one sentence naming both, exit code 2, and creates nothing; and that
// the kind and kube flags do not mix.
func TestKindWithoutEngine(t *testing.T) {
	bin := t.TempDir()
	docker := `#!/bin/sh
case "$1" in
-v) echo "Docker version 28.2.2, build e6534b4";;
*) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(docker), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"run", []string{"run", "quick", "--provider", "kind"}, []string{"needs a running Docker or podman engine", "docker: Cannot connect to the Docker daemon", "podman is not installed"}},
		{"run with a node image", []string{"run", "quick", "--provider", "kind", "--kind-image", "kindest/node:v1.32.0"}, []string{"Docker or podman"}},
		{"cleanup", []string{"cleanup", "--provider", "kind", "--all"}, []string{"Docker or podman"}},
		{"kube flag", []string{"run", "quick", "--provider", "kind", "--kubeconfig", "x"}, []string{"--provider kube only"}},
		{"kind flag", []string{"run", "quick", "--kind-image", "kindest/node:v1.32.0"}, []string{"--kind-image applies to --provider kind only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results")
			args := tt.args
			if args[0] == "run" {
				args = append(args, "--out", out)
			}
			var stdout, stderr strings.Builder
			err := Run(context.Background(), args, nil, &stdout, io.Discard)
			if code := exitCode(err, &stderr); code != exitUsage {
				t.Fatalf("exit code: got %d (%v), want %d", code, err, exitUsage)
			}
			msg := stderr.String()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not mention %q", msg, w)
				}
			}
			if strings.Count(msg, "\n") != 1 || stdout.Len() > 0 {
				t.Errorf("want one line on stderr and nothing on stdout, got %q and %q", msg, stdout.String())
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("bad input created %s", out)
			}
		})
	}
}
