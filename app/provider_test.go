package app

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestProviders checks the provider table: exactly netns (the default),
// kube and kind, each of whose flags the run command has, and --provider's
// help listing them.
func TestProviders(t *testing.T) {
	var names []string
	for _, p := range providers {
		names = append(names, p.name)
	}
	if want := []string{"netns", "kube", "kind"}; !slices.Equal(names, want) {
		t.Fatalf("providers %q, want %q", names, want)
	}
	run := newRunCommand(io.Discard, io.Discard)
	f := run.Flags().Lookup("provider")
	if f.DefValue != "netns" {
		t.Errorf("--provider defaults to %q, want netns", f.DefValue)
	}
	if want := "cluster provider: netns (namespaces on this host), kube (the cluster of --kubeconfig) or kind (a kind cluster per case, in Docker or podman)"; f.Usage != want {
		t.Errorf("--provider help %q, want %q", f.Usage, want)
	}
	for _, p := range providers {
		for _, name := range p.flags {
			if run.Flags().Lookup(name) == nil {
				t.Errorf("provider %s: run has no --%s", p.name, name)
			}
		}
	}
}

// TestProviderChoice checks that an unknown provider and a provider's flag
// given with another provider are usage errors, before anything is looked
// at on the host.
func TestProviderChoice(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"run unknown", []string{"run", "quick", "--provider", "nomad"}, `--provider "nomad": choose netns, kube or kind`},
		{"run empty", []string{"run", "quick", "--provider", ""}, `--provider "": choose netns, kube or kind`},
		{"cleanup unknown", []string{"cleanup", "--all", "--provider", "nomad"}, `--provider "nomad": choose netns, kube or kind`},
		{"kube flag with netns", []string{"run", "quick", "--image-registry", "r.example/mb"},
			"--kubeconfig, --image-registry and --image-import apply to --provider kube only"},
		{"kube flag with kind", []string{"cleanup", "--all", "--provider", "kind", "--kubeconfig", "x"},
			"--kubeconfig, --image-registry and --image-import apply to --provider kube only"},
		{"kind flag with kube", []string{"run", "quick", "--provider", "kube", "--kind-image", "kindest/node:v1.32.0"},
			"--kind-image applies to --provider kind only"},
		{"kube and kind flag with netns", []string{"run", "quick", "--inject", "direct"},
			"--inject and --webhook-failure-policy apply to --provider kube or kind only"},
		{"unknown injection", []string{"run", "quick", "--provider", "kind", "--inject", "sidecar"},
			`--inject "sidecar": want webhook or direct`},
		{"unknown failure policy", []string{"run", "quick", "--provider", "kube", "--webhook-failure-policy", "never"},
			`--webhook-failure-policy "never": want Fail or Ignore`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args[0] == "run" {
				args = append(args, "--out", t.TempDir()+"/results")
			}
			var stdout, stderr strings.Builder
			err := Run(context.Background(), args, nil, &stdout, io.Discard)
			if code := exitCode(err, &stderr); code != exitUsage {
				t.Fatalf("exit code: got %d (%v), want %d", code, err, exitUsage)
			}
			if got := strings.TrimSpace(stderr.String()); got != "meshbench: "+tt.want {
				t.Errorf("message %q, want %q", got, "meshbench: "+tt.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestJoinList(t *testing.T) {
	tests := []struct {
		items   []string
		or, and string
	}{
		{nil, "", ""},
		{[]string{"a"}, "a", "a"},
		{[]string{"a", "b"}, "a or b", "a and b"},
		{[]string{"a", "b", "c"}, "a, b or c", "a, b and c"},
	}
	for _, tt := range tests {
		if got := orList(tt.items); got != tt.or {
			t.Errorf("orList(%q) = %q, want %q", tt.items, got, tt.or)
		}
		if got := andList(tt.items); got != tt.and {
			t.Errorf("andList(%q) = %q, want %q", tt.items, got, tt.and)
		}
	}
}
