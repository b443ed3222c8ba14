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

	"github.com/google/nftables"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshbench/meshbench/clusters/kube"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
)

// TestQuickOnTestCluster runs `meshbench run quick` for every datapath on
// the local test cluster, the image imported into each node's containerd,
// and checks the result (latency, costs per node, hops in the same order
// as on the netns provider) and that the run left nothing behind: no
// namespace in the cluster, no steering table on a node.
func TestQuickOnTestCluster(t *testing.T) {
	run, client := runOnTestCluster(t, "quick", "--datapaths", "none,sidecar,nodeproxy,ebpf")
	if run.Provider != "kube" || run.SchemaVersion != results.SchemaVersion || len(run.Cases) != 8 {
		t.Fatalf("provider %q, schema %d, %d cases; want kube, %d, 8 (4 datapaths, same-node and cross-node)",
			run.Provider, run.SchemaVersion, len(run.Cases), results.SchemaVersion)
	}
	hops := map[string]map[string]float64{} // placement -> datapath -> hops
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
		checkCosts(t, c)
		if c.Path == nil {
			t.Errorf("%s: no packet-path result", c.ID)
			continue
		}
		if hops[c.Placement] == nil {
			hops[c.Placement] = map[string]float64{}
		}
		hops[c.Placement][c.Datapath] = c.Path.HopsPerRequest
	}
	// The order on netns: ebpf < none = nodeproxy < sidecar. Half a hop
	// of slack for an ACK a loaded machine sends on its own.
	for placement, h := range hops {
		if !(h["ebpf"] < h["none"]+0.5 && h["none"] <= h["nodeproxy"]+0.5 && h["nodeproxy"] < h["sidecar"] && h["none"] < h["sidecar"]) {
			t.Errorf("%s hops per request %v: want ebpf <= none <= nodeproxy < sidecar, as on netns", placement, h)
		}
	}
	assertNoNamespaces(t, client)
	assertNoTables(t, client)
}

// runOnTestCluster runs `meshbench run SCENARIO ARGS...` for 2 s, one
// repetition, on the local test cluster, the image imported into each
// node's containerd, and returns the run's result and a client of the
// cluster.
func runOnTestCluster(t *testing.T, scenario string, args ...string) (*results.Run, kubernetes.Interface) {
	t.Helper()
	kubeconfig := testutil.KubeCluster(t)
	client := clientFor(t, kubeconfig)
	exe := buildStatic(t)
	ctr := "ctr --address " + filepath.Join(filepath.Dir(kubeconfig), "nodes", kube.NodePlaceholder, "containerd.sock") + " --namespace k8s.io"
	t.Cleanup(func() { removeImages(t, client, ctr) })

	out := t.TempDir()
	cmd := exec.Command(exe, append(append([]string{"run", scenario}, args...),
		"--duration", "2s", "--repetitions", "1", "--out", out,
		"--provider", "kube", "--kubeconfig", kubeconfig,
		"--image-import", ctr+" images import "+kube.ArchivePlaceholder)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("meshbench run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("meshbench run:\n%s", stdout.String())
	m := regexp.MustCompile(`result: (\S+)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("stdout does not say where the result went:\n%s", stdout.String())
	}
	run, err := results.Read(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return run, client
}

// TestWaypointOnTestCluster runs the built-in waypoint scenario's
// nodeproxy with and without a waypoint on the server's node: each case
// verifies (the waypoint counted every request), the waypoint's pod is one
// more proxy of its node, it lengthens the packet path, and nothing is
// left behind.
func TestWaypointOnTestCluster(t *testing.T) {
	run, client := runOnTestCluster(t, "waypoint", "--datapaths", "nodeproxy,nodeproxy-waypoint")
	if len(run.Cases) != 4 {
		t.Fatalf("%d cases, want 4 (2 datapaths, same-node and cross-node)", len(run.Cases))
	}
	hops := map[string]map[string]float64{} // placement -> datapath -> hops
	for _, c := range run.Cases {
		if c.Status != "ok" || c.ErrorRate != 0 {
			t.Errorf("%s: status %s, error rate %g: %s", c.ID, c.Status, c.ErrorRate, c.Error)
			continue
		}
		checkCosts(t, c)
		most := 0
		for _, nc := range c.NodeCosts {
			most = max(most, nc.Proxies)
		}
		if want := map[bool]int{false: 1, true: 2}[c.Waypoint != ""]; most != want {
			t.Errorf("%s: %d proxies on the busiest node, want %d", c.ID, most, want)
		}
		if c.Path == nil {
			t.Errorf("%s: no packet-path result", c.ID)
			continue
		}
		if hops[c.Placement] == nil {
			hops[c.Placement] = map[string]float64{}
		}
		hops[c.Placement][c.Datapath] = c.Path.HopsPerRequest
	}
	for placement, h := range hops {
		if !(h["nodeproxy-waypoint"] > h["nodeproxy"]) {
			t.Errorf("%s hops per request %v: want the waypoint's on top of nodeproxy's", placement, h)
		}
	}
	assertNoNamespaces(t, client)
	assertNoTables(t, client)
}

// checkCosts checks a case has a cost figure for its nodes and, but for
// none, memory and proxies of its datapath.
func checkCosts(t *testing.T, c results.Case) {
	t.Helper()
	if len(c.NodeCosts) == 0 {
		t.Errorf("%s: no node costs", c.ID)
		return
	}
	var proxies int
	var dpMem, appMem float64
	for _, nc := range c.NodeCosts {
		proxies += nc.Proxies
		dpMem += nc.DatapathMemoryBytesMean + nc.BPFMemoryBytes
		appMem += nc.AppMemoryBytesMean
	}
	if appMem <= 0 {
		t.Errorf("%s: no application memory measured on any node: %+v", c.ID, c.NodeCosts)
	}
	if c.Datapath != "none" && dpMem <= 0 {
		t.Errorf("%s: no datapath memory measured on any node: %+v", c.ID, c.NodeCosts)
	}
	if c.Datapath == "none" && (proxies != 0 || dpMem != 0) {
		t.Errorf("%s: %d proxies and %.0f bytes of datapath memory for none", c.ID, proxies, dpMem)
	}
}

// assertNoTables checks that no node of the test cluster (each a network
// namespace of this host named after it) keeps a meshbench nftables table.
func assertNoTables(tb testing.TB, client kubernetes.Interface) {
	tb.Helper()
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range nodes.Items {
		f, err := os.Open(filepath.Join("/run/netns", n.Name))
		if err != nil {
			tb.Errorf("node %s: %v", n.Name, err)
			continue
		}
		conn, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
		if err != nil {
			f.Close()
			tb.Fatal(err)
		}
		tables, err := conn.ListTables()
		f.Close()
		if err != nil {
			tb.Fatal(err)
		}
		for _, tab := range tables {
			if strings.HasPrefix(tab.Name, "mb-") {
				tb.Errorf("node %s keeps nftables table %s", n.Name, tab.Name)
			}
		}
	}
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
		{"image not on the nodes", []string{"quick", "--datapaths", "sidecar", "--image-import", "true {archive}"},
			"cannot get the meshbench image"},
		{"import fails", []string{"quick", "--datapaths", "none", "--image-import", "false {archive}"},
			"import meshbench image on node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"run", "--provider", "kube", "--kubeconfig", kubeconfig, "--out", out}, tc.args...)
			cmd := exec.Command(exe, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("got %v with stderr:\n%s\nwant exit status 2 and %q", err, stderr.String(), tc.want)
			}
			if left, _ := os.ReadDir(out); len(left) > 0 {
				t.Errorf("left %d entries in --out, want none", len(left))
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
		tb.Errorf("namespace %s (%s, created %s) left in the cluster", ns.Name, ns.Status.Phase, ns.CreationTimestamp)
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
