package kube_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshbench/meshbench/clusters/kube"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
)

// TestQuickOnTestCluster runs `meshbench run quick --datapaths none` on
// the local test cluster, the image imported into each node's containerd,
// and checks the result and that the run left no namespace behind.
func TestQuickOnTestCluster(t *testing.T) {
	kubeconfig := testutil.KubeCluster(t)
	client := clientFor(t, kubeconfig)
	exe := buildStatic(t)
	ctr := "ctr --address " + filepath.Join(filepath.Dir(kubeconfig), "nodes", kube.NodePlaceholder, "containerd.sock") + " --namespace k8s.io"
	t.Cleanup(func() { removeImages(t, client, ctr) })

	out := t.TempDir()
	cmd := exec.Command(exe, "run", "quick", "--datapaths", "none",
		"--duration", "2s", "--repetitions", "1", "--out", out,
		"--provider", "kube", "--kubeconfig", kubeconfig,
		"--image-import", ctr+" images import "+kube.ArchivePlaceholder)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("meshbench run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	m := regexp.MustCompile(`result: (\S+)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("stdout does not say where the result went:\n%s", stdout.String())
	}
	run, err := results.Read(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if run.Provider != "kube" || len(run.Cases) != 2 {
		t.Fatalf("provider %q with %d cases, want kube with 2 (same-node and cross-node)", run.Provider, len(run.Cases))
	}
	for _, c := range run.Cases {
		if c.Status != "ok" {
			t.Errorf("%s: status %s: %s", c.ID, c.Status, c.Error)
			continue
		}
		l := c.LatencyUS
		if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
			t.Errorf("%s: latency percentiles not ordered and positive: %+v", c.ID, l)
		}
		if c.AchievedRPS < 0.9*c.Rate || c.ErrorRate != 0 {
			t.Errorf("%s: achieved %.0f of %.0f req/s with error rate %g", c.ID, c.AchievedRPS, c.Rate, c.ErrorRate)
		}
	}
	assertNoNamespaces(t, client)
}

// TestBadInputOnTestCluster checks that configuration mistakes exit with
// code 2 and one clear sentence, creating nothing.
func TestBadInputOnTestCluster(t *testing.T) {
	kubeconfig := testutil.KubeCluster(t)
	client := clientFor(t, kubeconfig)
	exe := buildStatic(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"too many nodes", []string{"testdata/too-many-nodes.yaml", "--image-import", "true {archive}"},
			"the scenario needs 64 schedulable nodes but the cluster has"},
		{"no image option", []string{"quick", "--datapaths", "none"},
			"say how the nodes get the meshbench image"},
		{"datapath", []string{"quick", "--datapaths", "sidecar", "--image-import", "true {archive}"},
			"datapath sidecar does not run on --provider kube yet"},
		{"import fails", []string{"quick", "--datapaths", "none", "--image-import", "false {archive}"},
			"import meshbench image on node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--provider", "kube", "--kubeconfig", kubeconfig, "--out", t.TempDir()}, tc.args...)
			cmd := exec.Command(exe, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("got %v with stderr:\n%s\nwant exit status 2 and %q", err, stderr.String(), tc.want)
			}
		})
	}
	assertNoNamespaces(t, client)
}

func clientFor(tb testing.TB, kubeconfig string) kubernetes.Interface {
	tb.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		tb.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return client
}

// buildStatic builds meshbench with CGO_ENABLED=0, as the image needs it.
func buildStatic(tb testing.TB) string {
	tb.Helper()
	exe := filepath.Join(tb.TempDir(), "meshbench")
	cmd := exec.Command("go", "build", "-o", exe, "github.com/meshbench/meshbench/cmd/meshbench")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build meshbench: %v\n%s", err, out)
	}
	return exe
}

func assertNoNamespaces(tb testing.TB, client kubernetes.Interface) {
	tb.Helper()
	list, err := client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: kube.RunLabel})
	if err != nil {
		tb.Fatal(err)
	}
	for _, ns := range list.Items {
		tb.Errorf("namespace %s (%s) left in the cluster", ns.Name, ns.Status.Phase)
	}
}

// removeImages removes the meshbench images the run imported on each node.
func removeImages(tb testing.TB, client kubernetes.Interface, ctr string) {
	tb.Helper()
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		tb.Error(err)
		return
	}
	for _, n := range nodes.Items {
		argv := strings.Fields(strings.ReplaceAll(ctr, kube.NodePlaceholder, n.Name))
		list, err := exec.Command(argv[0], append(argv[1:], "images", "ls", "-q")...).Output()
		if err != nil {
			tb.Errorf("list images on %s: %v", n.Name, err)
			continue
		}
		for _, ref := range strings.Fields(string(list)) {
			if !strings.HasPrefix(ref, kube.ImageRepository+":") {
				continue
			}
			if out, err := exec.Command(argv[0], append(argv[1:], "images", "rm", ref)...).CombinedOutput(); err != nil {
				tb.Errorf("remove image %s on %s: %v: %s", ref, n.Name, err, out)
			}
		}
	}
}
