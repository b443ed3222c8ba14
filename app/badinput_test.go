package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput checks that every user mistake is one clear sentence, exit
// code 2, and creates nothing (not even the results directory).
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	head := "apiVersion: meshbench/v1alpha1\nkind: Scenario\n"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown scenario", []string{"run", "no-such-scenario"}, "no-such-scenario"},
		{"malformed yaml", []string{"run", write("bad.yaml", head+"load: [\n")}, "bad.yaml"},
		{"unknown field", []string{"run", write("field.yaml", head+"load:\n  ratez: [1]\n")}, "ratez"},
		{"rate zero in file", []string{"run", write("rate.yaml", head+"load:\n  rates: [0]\n")}, "rate"},
		{"more pods than addresses", []string{"run", write("pods.yaml", head+"topology:\n  nodes: 1\n  services: [300]\n  placements: [same-node]\n")}, "pods"},
		{"unknown datapath flag", []string{"run", "quick", "--datapaths", "istio"}, "istio"},
		{"rate flag", []string{"run", "quick", "--rate", "-5"}, "--rate"},
		{"unknown flag", []string{"run", "--bogus"}, "bogus"},
		{"validate nothing", []string{"validate"}, "validate"},
		{"list with an argument", []string{"list", "extra"}, "list"},
		{"unknown provider", []string{"run", "quick", "--provider", "nomad"}, "choose netns, kube or kind"},
		{"kube flag without kube", []string{"run", "quick", "--kubeconfig", "x"}, "--provider kube only"},
		{"unreachable cluster", []string{"run", "quick", "--provider", "kube", "--image-import", "true {archive}",
			"--kubeconfig", write("kubeconfig", unreachableKubeconfig)}, "cannot reach the Kubernetes API server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results")
			args := append(tt.args, "--out", out)
			if tt.args[0] != "run" {
				args = tt.args
			}
			var stderr strings.Builder
			err := Run(context.Background(), args, nil, io.Discard, io.Discard)
			code := exitCode(err, &stderr)
			if code != exitUsage {
				t.Fatalf("exit code: got %d (%v), want %d", code, err, exitUsage)
			}
			if msg := stderr.String(); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not mention %q", msg, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("bad input created %s", out)
			}
		})
	}
}

// unreachableKubeconfig names an API server on a loopback port nothing
// listens on.
const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters:
- {name: c, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: x, context: {cluster: c, user: u}}
current-context: x
`
