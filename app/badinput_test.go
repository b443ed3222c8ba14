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
		{"wireguard with sidecar", []string{"run", write("wg-sidecar.yaml", head+"datapaths: [sidecar]\ndatapathOptions:\n  sidecar: {encryption: wireguard}\n")}, "sidecar cannot run over wireguard"},
		{"wireguard with ebpf proxy off", []string{"run", write("wg-ebpf.yaml", head+"datapaths: [ebpf]\ndatapathOptions:\n  ebpf: {proxy: off, encryption: wireguard}\n")}, "wireguard cannot apply with proxy off"},
		{"unknown datapath flag", []string{"run", "quick", "--datapaths", "istio"}, "istio"},
		{"waypoint without mtls", []string{"run", write("wp-plain.yaml", head+"datapaths: [nodeproxy]\ndatapathOptions:\n  nodeproxy: {waypoint: true}\n")}, "needs mtls: true"},
		{"waypoint on sidecar", []string{"run", write("wp-sidecar.yaml", head+"datapaths: [sidecar]\ndatapathOptions:\n  sidecar: {waypoint: true, mtls: true}\n")}, "only possible with nodeproxy"},
		{"waypoint on a variant of ebpf", []string{"run", write("wp-ebpf.yaml", head+"datapaths: [ebpf-wp]\ndatapathOptions:\n  ebpf-wp: {datapath: ebpf, waypoint: true, mtls: true}\n")}, "only possible with nodeproxy"},
		{"rate flag", []string{"run", "quick", "--rate", "-5"}, "--rate"},
		{"order flag", []string{"run", "quick", "--order", "random"}, `--order: unknown order "random"; use sequential or interleaved`},
		{"run section", []string{"run", write("run.yaml", head+"run:\n  clusters: keep\n")}, "run.clusters"},
		{"clusters flag", []string{"run", "quick", "--clusters", "keep"}, `--clusters: unknown value "keep"; use fresh or reuse`},
		{"rate flag with a search", []string{"run", "capacity", "--rate", "500"}, "load.search"},
		{"stream with a search", []string{"run", write("search.yaml", head+"load:\n  protocol: [http1, stream]\n  search: {maxP99: 3x}\n")}, "a stream has no rate to search"},
		{"unknown flag", []string{"run", "--bogus"}, "bogus"},
		{"validate nothing", []string{"validate"}, "validate"},
		{"list with an argument", []string{"list", "extra"}, "list"},
		{"unknown provider", []string{"run", "quick", "--provider", "nomad"}, "choose netns, kube or kind"},
		{"kube flag without kube", []string{"run", "quick", "--kubeconfig", "x"}, "--provider kube only"},
		{"unreachable cluster", []string{"run", "quick", "--provider", "kube", "--image-import", "true {archive}",
			"--kubeconfig", write("kubeconfig", unreachableKubeconfig)}, "cannot reach the Kubernetes API server"},
		{"enrol after the load", []string{"run", write("late.yaml", head+"enrol: {after: 20s}\n")}, "enrol.after: 20s is not inside the enrolment's 10s of load"},
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

// TestUsageMessages checks that each usage error exits 2 with one sentence
// that names the bad argument and says what to write, without the
// parser's raw words or a path inside the binary, and creates nothing.
func TestUsageMessages(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	head := "apiVersion: meshbench/v1alpha1\nkind: Scenario\n"
	file := write("a-file", "")
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(filepath.Join(full, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results")
	tests := []struct {
		name string
		args []string
		want []string
		not  []string
		// created must not exist afterwards (besides out).
		created string
	}{
		{"typo'd command", []string{"rn"}, []string{`unknown command "rn"`, "did you mean run?"}, nil, ""},
		{"help on a typo", []string{"help", "valdate"}, []string{`unknown command "valdate"`, "did you mean validate?"}, nil, ""},
		{"unknown command", []string{"frobnicate"}, []string{`"frobnicate"`, "run, selfcheck, show"}, nil, ""},
		{"-v at the top", []string{"-v"}, []string{"-v", "--version"}, nil, ""},
		{"empty datapaths", []string{"run", "quick", "--datapaths", "", "--out", out}, []string{"--datapaths is empty", "none, sidecar"}, []string{"catalog/"}, ""},
		{"repeated datapath", []string{"run", "quick", "--datapaths", "none,none", "--out", out}, []string{"--datapaths: none is listed twice"}, []string{"catalog/"}, ""},
		{"rate out of range", []string{"run", "quick", "--rate", "1e9", "--out", out}, []string{"--rate: ", "200000"}, []string{"catalog/"}, ""},
		{"duration without unit", []string{"run", "quick", "--duration", "2", "--out", out}, []string{"--duration 2: a duration needs a unit, e.g. 2s"}, []string{"time: missing unit"}, ""},
		{"rate not a number", []string{"run", "quick", "--rate", "fast", "--out", out}, []string{"--rate fast: give a number"}, []string{"strconv"}, ""},
		{"run a directory", []string{"run", dir, "--out", out}, []string{dir, "is a directory, not a scenario file"}, nil, ""},
		{"out below a file", []string{"run", "quick", "--out", filepath.Join(file, "results")}, []string{"--out", file + " is a file, not a directory"}, nil, ""},
		{"out is a file", []string{"run", "quick", "--out", file}, []string{"--out", "is a file"}, nil, ""},
		{"run-dir not empty", []string{"run", "quick", "--run-dir", full}, []string{"--run-dir " + full + " is not empty"}, nil, ""},
		{"run-dir and out", []string{"run", "quick", "--run-dir", filepath.Join(dir, "new"), "--out", out}, []string{"--out and --run-dir"}, nil, filepath.Join(dir, "new")},
		{"syntax error after other mistakes", []string{"validate", write("both.yaml", head+"topology:\n  nodez: 3\nload:\n  rates: [5]\n bad: indent\n")},
			[]string{"both.yaml:4: topology.nodez: unknown field; did you mean nodes?", "both.yaml:6: malformed YAML", "lines 6 on were not checked"}, nil, ""},
		{"unknown field beside invalid values", []string{"validate", write("mixed.yaml", head+"topology:\n  nodez: 3\nload:\n  rates: [0]\n")},
			[]string{"mixed.yaml:4: topology.nodez: unknown field", "mixed.yaml:6: load.rates[0]: rate must be > 0"}, nil, ""},
		{"syntax error after invalid values", []string{"validate", write("values.yaml", head+"load:\n  rates: [0]\n  duration: 5s\n bad: indent\n")},
			[]string{"values.yaml:4: load.rates[0]", "malformed YAML"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			err := Run(context.Background(), tt.args, nil, io.Discard, io.Discard)
			code := exitCode(err, &stderr)
			if code != exitUsage {
				t.Fatalf("exit code: got %d (%v), want %d", code, err, exitUsage)
			}
			msg := stderr.String()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(msg, n) {
					t.Errorf("message %q says %q", msg, n)
				}
			}
			for _, p := range []string{out, tt.created} {
				if _, err := os.Stat(p); p != "" && !os.IsNotExist(err) {
					t.Errorf("bad input created %s", p)
				}
			}
			if entries, _ := os.ReadDir(full); len(entries) != 1 {
				t.Errorf("bad input wrote into %s: %v", full, entries)
			}
		})
	}
}

// TestShowStartsAFile checks the way a user with only the binary writes a
// scenario: show a built-in, save it, validate it; explain prints the field
// reference.
func TestShowStartsAFile(t *testing.T) {
	var shown, explained, validated strings.Builder
	if err := Run(context.Background(), []string{"show", "seed-mesh"}, nil, &shown, io.Discard); err != nil {
		t.Fatalf("show: %v", err)
	}
	file := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(file, []byte(shown.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), []string{"validate", file}, nil, &validated, io.Discard); err != nil {
		t.Fatalf("validate the shown file: %v\n%s", err, shown.String())
	}
	if want := file + ": ok (4 cases)\n"; validated.String() != want {
		t.Errorf("validate says %q, want %q", validated.String(), want)
	}
	if err := Run(context.Background(), []string{"explain"}, nil, &explained, io.Discard); err != nil {
		t.Fatalf("explain: %v", err)
	}
	for _, field := range []string{"podsPerService:", "probeRequests:", "datapathOptions:", "1 to 200000"} {
		if !strings.Contains(explained.String(), field) {
			t.Errorf("explain does not describe %s:\n%s", field, explained.String())
		}
	}
}
