package kind

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/meshbench/meshbench/clusters"
)

// fakeEngines puts shell scripts named after engines on an otherwise empty
// PATH: each prints its `-v` banner and answers the other commands as the
// script body says.
func fakeEngines(t *testing.T, scripts map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		script := "#!/bin/sh\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
}

// Engine behaviours, as /bin/sh case statements on the first argument.
const (
	dockerDown = `case "$1" in
-v) echo "Docker version 28.2.2, build e6534b4";;
info) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1;;
*) exit 1;;
esac`
	dockerShim = `case "$1" in
-v) echo "podman version 5.4.0";;
*) exit 0;;
esac`
	podmanUp = `case "$1" in
-v) echo "podman version 5.4.0";;
info) echo "host: {}";;
image) exit 1;;
esac`
	dockerUpWithImage = `case "$1" in
-v) echo "Docker version 28.2.2, build e6534b4";;
*) exit 0;;
esac`
)

func TestDetectEngine(t *testing.T) {
	tests := []struct {
		name    string
		scripts map[string]string
		want    string // the engine, or "" for an error
		msg     []string
	}{
		{"none installed", nil, "", []string{"Docker or podman", "docker is not installed", "podman is not installed"}},
		{"docker daemon down", map[string]string{"docker": dockerDown}, "",
			[]string{"Docker or podman", "docker: Cannot connect to the Docker daemon", "podman is not installed", "install or start one"}},
		{"podman shim", map[string]string{"docker": dockerShim}, "", []string{"`docker -v` does not say \"Docker version\""}},
		{"podman after a dead docker", map[string]string{"docker": dockerDown, "podman": podmanUp}, "podman", nil},
		{"docker first", map[string]string{"docker": dockerUpWithImage, "podman": podmanUp}, "docker", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeEngines(t, tt.scripts)
			e, err := detectEngine(context.Background())
			if tt.want != "" {
				if err != nil || e.name != tt.want {
					t.Fatalf("got engine %q, %v; want %s", e.name, err, tt.want)
				}
				return
			}
			if !errors.Is(err, clusters.ErrConfig) {
				t.Fatalf("got %v, want an error wrapping clusters.ErrConfig", err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q is more than one line", err)
			}
		})
	}
}

func TestCheckImage(t *testing.T) {
	// Nothing listens on port 1: the registry cannot be reached, here or
	// anywhere.
	const unreachable = "127.0.0.1:1/kindest/node:v1.37.0"
	tests := []struct {
		name   string
		engine string
		ref    string
		msg    []string // empty: no error
	}{
		{"present", dockerUpWithImage, unreachable, nil},
		{"missing and unreachable", podmanUp, unreachable,
			[]string{"the kind node image " + unreachable + " is not in podman's image store", "podman pull " + unreachable, "--kind-image"}},
		{"malformed", dockerUpWithImage, "Kindest/Node::", []string{`kind node image "Kindest/Node::"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeEngines(t, map[string]string{"podman": tt.engine})
			err := engine{name: "podman"}.checkImage(context.Background(), tt.ref)
			if len(tt.msg) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if !errors.Is(err, clusters.ErrConfig) {
				t.Fatalf("got %v, want an error wrapping clusters.ErrConfig", err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q does not mention %q", err, m)
				}
			}
		})
	}
}

// TestNoEngine checks that Check and Cleanup stop, with a configuration
// error, before they touch anything when no engine runs.
func TestNoEngine(t *testing.T) {
	fakeEngines(t, map[string]string{"docker": dockerDown})
	ctx := context.Background()
	p := New(Options{})
	if err := p.Check(ctx, clusters.Need{Nodes: 1}); !errors.Is(err, clusters.ErrConfig) {
		t.Errorf("Check: got %v, want an error wrapping clusters.ErrConfig", err)
	}
	if deleted, err := p.Cleanup(ctx, "0a1b2c3d"); !errors.Is(err, clusters.ErrConfig) || len(deleted) > 0 {
		t.Errorf("Cleanup: got %v, %v; want no clusters and an error wrapping clusters.ErrConfig", deleted, err)
	}
	if deleted, err := p.CleanupAll(ctx); !errors.Is(err, clusters.ErrConfig) || len(deleted) > 0 {
		t.Errorf("CleanupAll: got %v, %v; want no clusters and an error wrapping clusters.ErrConfig", deleted, err)
	}
}

// dockerWithClusters answers kind's listing of clusters and of a cluster's
// nodes (docker ps -a --filter label=...) as an engine holding the kind
// clusters it prints, one control-plane node each, and logs the nodes it
// is asked to remove (docker rm -f -v NODE...) to the file LOG.
const dockerWithClusters = `case "$1" in
-v) echo "Docker version 28.2.2, build e6534b4";;
info) ;;
ps) case "$4" in
	label=io.x-k8s.kind.cluster) printf '%s\n' kind meshbench-0a1b2c3d0 meshbench-0a1b2c3d1 meshbench-0a1b2c3dff0 other-meshbench-0a1b2c3d2;;
	label=io.x-k8s.kind.cluster=*) echo "${4#label=io.x-k8s.kind.cluster=}-control-plane";;
	*) exit 1;;
	esac;;
rm) shift 3; echo "$@" >>LOG;;
*) exit 1;;
esac`

// TestCleanup checks that Cleanup deletes the kind clusters of the run
// and no other run's (a run id followed by letters is another run's), and
// CleanupAll every meshbench cluster and no other.
func TestCleanup(t *testing.T) {
	tests := []struct {
		name  string
		runID string // "" for CleanupAll
		want  []string
	}{
		{"run", "0a1b2c3d", []string{"meshbench-0a1b2c3d0", "meshbench-0a1b2c3d1"}},
		{"other run", "0a1b2c3e", nil},
		{"all", "", []string{"meshbench-0a1b2c3d0", "meshbench-0a1b2c3d1", "meshbench-0a1b2c3dff0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "rm.log")
			fakeEngines(t, map[string]string{"docker": strings.ReplaceAll(dockerWithClusters, "LOG", log)})
			t.Setenv("TMPDIR", t.TempDir()) // where kubeconfig directories are looked for
			p := New(Options{})
			var deleted []string
			var err error
			if tt.runID == "" {
				deleted, err = p.CleanupAll(context.Background())
			} else {
				deleted, err = p.Cleanup(context.Background(), tt.runID)
			}
			if err != nil {
				t.Fatalf("cleanup: %v", err)
			}
			var lines, removed []string
			for _, name := range tt.want {
				lines = append(lines, "deleted kind cluster "+name)
				removed = append(removed, name+"-control-plane\n")
			}
			if !slices.Equal(deleted, lines) {
				t.Errorf("cleanup said %q, want %q", deleted, lines)
			}
			b, err := os.ReadFile(log)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if got := string(b); got != strings.Join(removed, "") {
				t.Errorf("docker rm got %q, want %q", got, strings.Join(removed, ""))
			}
		})
	}
	if deleted, err := New(Options{}).Cleanup(context.Background(), "0a"); err == nil || len(deleted) > 0 {
		t.Errorf("Cleanup of a run id prefix: got %q, %v; want an error and nothing deleted", deleted, err)
	}
}

func TestClusterName(t *testing.T) {
	// A case's run id is the run's followed by the case index; Cleanup
	// finds a run's clusters by that (clusters.ClusterOfRun).
	run, caseID := "0a1b2c3d", "0a1b2c3d12"
	name := ClusterName(caseID)
	if name != "meshbench-0a1b2c3d12" || !strings.HasPrefix(name, ClusterName(run)) || !strings.HasPrefix(name, ClusterPrefix) {
		t.Errorf("ClusterName(%q) = %q", caseID, name)
	}
}

func TestConfig(t *testing.T) {
	for _, workers := range []int{1, 3} {
		c := config("meshbench-x", workers)
		if c.Name != "meshbench-x" || len(c.Nodes) != workers+1 {
			t.Fatalf("config(%d): name %q, %d nodes; want meshbench-x, %d", workers, c.Name, len(c.Nodes), workers+1)
		}
		for i, n := range c.Nodes {
			want := v1alpha4.WorkerRole
			if i == 0 {
				want = v1alpha4.ControlPlaneRole
			}
			if n.Role != want || n.Image != "" {
				t.Errorf("config(%d) node %d: role %q, image %q; want %q and the image of CreateWithNodeImage", workers, i, n.Role, n.Image, want)
			}
		}
	}
}

func TestWaitWorkers(t *testing.T) {
	ready := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	node := func(name string, conds []corev1.NodeCondition, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Taints: taints}, Status: corev1.NodeStatus{Conditions: conds}}
	}
	controlPlane := node("x-control-plane", ready, corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule})
	worker := node("x-worker", ready)
	notReady := node("x-worker2", []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}},
		corev1.Taint{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule})
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: metav1.NamespaceDefault}}
	worker2 := node("x-worker2", ready)
	tests := []struct {
		name string
		objs []runtime.Object
		msg  string // empty: ready
	}{
		{"ready", []runtime.Object{controlPlane, worker, worker2, sa}, ""},
		{"worker not ready", []runtime.Object{controlPlane, worker, notReady, sa}, "1 of 2 workers schedulable"},
		{"no service account", []runtime.Object{controlPlane, worker, worker2}, "default service account created: false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := waitWorkers(context.Background(), fake.NewClientset(tt.objs...), 2, 2*time.Second)
			switch {
			case tt.msg == "" && err != nil:
				t.Fatalf("got %v, want the workers ready", err)
			case tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)):
				t.Fatalf("got %v, want an error mentioning %q", err, tt.msg)
			case tt.msg != "" && !errors.Is(err, clusters.ErrConfig):
				t.Fatalf("got %v, want a configuration error (exit code 2)", err)
			}
		})
	}
}

// TestWaitWorkersCancelled: a cancelled run is not a node that failed to
// become ready.
func TestWaitWorkersCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := waitWorkers(ctx, fake.NewClientset(), 2, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, clusters.ErrConfig) {
		t.Fatalf("got %v, want the context's error and no configuration error", err)
	}
}

func TestKindError(t *testing.T) {
	run := &kindexec.RunError{Command: []string{"docker", "exec", "node", "kubeadm", "init"}, Output: []byte("one\ntwo\nthree\nfour\n"), Inner: errors.New("exit status 1")}
	err := kindError("create kind cluster x", run)
	if !errors.Is(err, run) || !strings.Contains(err.Error(), "create kind cluster x: ") || !strings.HasSuffix(err.Error(), ": two | three | four") {
		t.Errorf("got %q, want the action, the command and the output's last three lines", err)
	}
}

// dockerNetwork is an engine whose kind clusters are listed in the file
// CLUSTERS and whose kind network exists while the file NET says "up";
// `network rm` refuses while the file INUSE exists, as Docker does for a
// network with endpoints. PATH holds nothing else: shell builtins only.
const dockerNetwork = `case "$1" in
-v) echo "Docker version 28.2.2, build e6534b4";;
info) ;;
ps) while read -r c; do echo "$c"; done <CLUSTERS;;
network) read -r state <NET; case "$2" in
	inspect) test "$3" = kind && test "$state" = up;;
	rm) test -e INUSE && { echo "Error response from daemon: error while removing network: network kind id 5d4d has active endpoints" >&2; exit 1; }
		echo gone >NET;;
	esac;;
*) exit 1;;
esac`

// TestRemoveNetwork: kind's network goes with the last kind cluster, and
// stays while a cluster or anything else uses it.
func TestRemoveNetwork(t *testing.T) {
	tests := []struct {
		name     string
		clusters string
		inUse    bool
		wantNet  bool
	}{
		{"last cluster gone", "", false, false},
		{"another cluster left", "kind\n", false, true},
		{"used by other containers", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := func(name string) string { return filepath.Join(dir, name) }
			if err := os.WriteFile(file("CLUSTERS"), []byte(tt.clusters), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file("NET"), []byte("up\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.inUse {
				if err := os.WriteFile(file("INUSE"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			script := dockerNetwork
			for _, n := range []string{"CLUSTERS", "INUSE", "NET"} {
				script = strings.ReplaceAll(script, n, file(n))
			}
			fakeEngines(t, map[string]string{"docker": script})
			e, lib, err := New(Options{}).engine(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := e.removeNetwork(lib); err != nil {
				t.Fatalf("removeNetwork: %v", err)
			}
			b, err := os.ReadFile(file("NET"))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b) == "up\n"; got != tt.wantNet {
				t.Errorf("network left: %t, want %t", got, tt.wantNet)
			}
		})
	}
}

// TestRemoveKubeconfigDirs: a run killed while kind made its cluster
// leaves the cluster's kubeconfig directory; cleanup removes that run's
// and nothing that only looks alike.
func TestRemoveKubeconfigDirs(t *testing.T) {
	tmp := t.TempDir()
	names := []string{
		"meshbench-0a1b2c3d0-123456", // run 0a1b2c3d, case 0
		"meshbench-0a1b2c3d12-99",    // run 0a1b2c3d, case 12
		"meshbench-0a1b2c3e0-123456", // another run
		"meshbench-e2e-kind.x1y2",    // not a cluster's
		"meshbench-0a1b2c3dx-1",      // not a case id
		"meshbench-kind-cleanup-77",  // not a cluster's
	}
	for _, n := range names {
		if err := os.Mkdir(filepath.Join(tmp, n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := removeKubeconfigDirs(tmp, func(id string) bool { return clusters.ClusterOfRun(id, "0a1b2c3d") })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"removed kubeconfig directory " + filepath.Join(tmp, names[0]), "removed kubeconfig directory " + filepath.Join(tmp, names[1])}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	for i, n := range names {
		_, err := os.Stat(filepath.Join(tmp, n))
		if gone := errors.Is(err, os.ErrNotExist); gone != (i < 2) {
			t.Errorf("%s gone: %t, want %t", n, gone, i < 2)
		}
	}
	// CleanupAll's match takes every cluster's directory, still no other.
	removed, err = removeKubeconfigDirs(tmp, func(string) bool { return true })
	if err != nil || len(removed) != 1 || !strings.HasSuffix(removed[0], names[2]) {
		t.Errorf("all: removed %q, %v; want only %s", removed, err, names[2])
	}
}

// A kept kind cluster goes to the next case of its size only, and only
// once the provider keeps clusters.
func TestKeptClusters(t *testing.T) {
	p := New(Options{})
	c3 := &Cluster{name: "meshbench-0a1b2c3d0", workers: 3, provider: p}
	if p.release(c3) || p.kept(3) != nil {
		t.Fatal("a provider that does not keep clusters kept one")
	}
	p.Keep()
	if !p.release(c3) {
		t.Fatal("release after Keep = false, want the cluster kept")
	}
	if got := p.kept(2); got != nil {
		t.Errorf("kept(2) = %v, want none: the kept cluster has 3 workers", got.name)
	}
	if got := p.kept(3); got != c3 {
		t.Errorf("kept(3) = %v, want %s", got, c3.name)
	}
	if got := p.kept(3); got != nil {
		t.Errorf("kept(3) again = %v, want none: it was taken", got.name)
	}
}
