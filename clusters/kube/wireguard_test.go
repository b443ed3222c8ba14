package kube_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/none"
	"github.com/meshbench/meshbench/datapaths/wireguard"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// TestWireGuardOnTestCluster runs none, nodeproxy and ebpf over WireGuard
// cross-node through the kube provider: each case verifies (no plaintext
// between the run's pods or node proxies on the nodes' fabric-facing
// devices, and WireGuard packets there), records the implementation the nodes have
// (userspace here: no module), counts the agents' cost on the nodes, and
// the run leaves no device, rule, route or table on any node.
func TestWireGuardOnTestCluster(t *testing.T) {
	run, client := runOnTestCluster(t, "testdata/wireguard.yaml")
	if len(run.Cases) != 3 {
		t.Fatalf("%d cases, want 3 (none, nodeproxy and ebpf over wireguard, cross-node)", len(run.Cases))
	}
	want := wireguard.Userspace
	if kernelWireGuard(t, client) {
		want = wireguard.Kernel
	}
	for _, c := range run.Cases {
		if c.Status != "ok" || c.ErrorRate != 0 {
			t.Errorf("%s: status %s, error rate %g: %s", c.ID, c.Status, c.ErrorRate, c.Error)
			continue
		}
		if c.Encryption != wireguard.Name || c.EncryptionImplementation != want {
			t.Errorf("%s: encryption %q %q, want %s %s", c.ID, c.Encryption, c.EncryptionImplementation, wireguard.Name, want)
		}
		if label := results.DatapathLabel(&c); !strings.Contains(label, "wireguard "+want) {
			t.Errorf("%s: label %q does not say wireguard %s", c.ID, label, want)
		}
		// The ordered path shows the tunnel: the device's transmits.
		if c.Path == nil || !slices.ContainsFunc(c.Path.Steps, func(s results.PathStep) bool {
			return strings.HasPrefix(s.Device, "mbwg") && s.Event == "transmit"
		}) {
			t.Errorf("%s: the packet path shows no transmit on the wireguard device: %v", c.ID, c.Path)
		}
		var cpu, mem float64
		for _, nc := range c.NodeCosts {
			cpu += nc.DatapathCPUSeconds
			mem += nc.DatapathMemoryBytesMean
		}
		if want == wireguard.Userspace && (cpu <= 0 || mem <= 0) {
			t.Errorf("%s: datapath CPU %g s and memory %g B over the nodes, want wireguard-go's", c.ID, cpu, mem)
		}
	}
	assertNoNamespaces(t, client)
	assertNoTables(t, client)
	var ids []string
	for i := range run.Cases {
		ids = append(ids, run.ID+strconv.Itoa(i))
	}
	assertNoWireGuard(t, client, ids...)
}

// TestWireGuardInterruptOnTestCluster interrupts a run over WireGuard on
// the test cluster while it measures, with SIGINT, and with SIGKILL
// followed by `meshbench cleanup --provider kube --run ID`: neither leaves
// a namespace, table, device, rule or route on any node.
func TestWireGuardInterruptOnTestCluster(t *testing.T) {
	kubeconfig := testutil.KubeCluster(t)
	client := clientFor(t, kubeconfig)
	exe := buildStatic(t)
	ctr := "ctr --address " + filepath.Join(filepath.Dir(kubeconfig), "nodes", kube.NodePlaceholder, "containerd.sock") + " --namespace k8s.io"
	t.Cleanup(func() { removeImages(t, client, ctr) })
	kubeArgs := []string{"--provider", "kube", "--kubeconfig", kubeconfig, "--image-import", ctr + " images import " + kube.ArchivePlaceholder}
	for _, sig := range []os.Signal{os.Interrupt, os.Kill} {
		t.Run(sig.String(), func(t *testing.T) {
			args := append([]string{"run", "testdata/wireguard.yaml", "--datapaths", "none-wireguard",
				"--duration", "60s", "--repetitions", "1", "--out", t.TempDir()}, kubeArgs...)
			cmd := exec.Command(exe, args...)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
			runID := waitStage(t, stderr, "Measuring")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err == nil {
				t.Errorf("the run exited 0 after %v", sig)
			}
			if sig == os.Kill {
				ns := kube.NamespaceName(runID + "0")
				if _, err := client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err != nil {
					t.Errorf("after SIGKILL: %v; want the run's namespace left for cleanup", err)
				}
				out, err := exec.Command(exe, append([]string{"cleanup", "--run", runID}, kubeArgs[:4]...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("meshbench cleanup: %v\n%s", err, out)
				}
				if !strings.Contains(string(out), "deleted namespace "+ns) {
					t.Errorf("meshbench cleanup said:\n%s\nwant the run's namespace deleted", out)
				}
			}
			assertNoNamespaces(t, client)
			assertNoTables(t, client)
			assertNoWireGuard(t, client, runID+"0")
		})
	}
}

// waitStage reads a run's stderr until it prints stage, at most two
// minutes, and returns the run's id; the rest of stderr is discarded.
func waitStage(t *testing.T, stderr io.Reader, stage string) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		var runID string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := regexp.MustCompile(`run ([0-9a-f]{8}): `).FindStringSubmatch(sc.Text()); m != nil && runID == "" {
				runID = m[1]
			}
			if strings.Contains(sc.Text(), stage) && runID != "" {
				found <- runID
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case id := <-found:
		return id
	case <-time.After(2 * time.Minute):
		t.Fatalf("the run did not reach %q", stage)
	}
	return ""
}

// TestWireGuardBypassOnTestCluster installs none over WireGuard through the
// kube provider and sends requests across nodes: Verify passes, then fails
// with ErrNotInPath, counting the plaintext, once the client's node routes
// around its device. A SIGKILLed agent leaves its routing rules on its
// node, which the node agent removes as the run's namespace goes: nothing
// is left on any node.
func TestWireGuardBypassOnTestCluster(t *testing.T) {
	ctx := context.Background()
	dp, err := wireguard.Encrypt(none.Kind).New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn, Encryption: wireguard.Name})
	if err != nil {
		t.Fatal(err)
	}
	c, client := wireGuardCluster(t, dp.(datapaths.Injector))
	if err := dp.Install(ctx, c); err != nil {
		t.Fatalf("Install: %v", err)
	}
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			dp.Uninstall(ctx)
		}
	})
	topo := c.Topology()
	l := startLoad(t, c)
	warmUp(t, l)
	if err := dp.Verify(ctx, sendRequests(t, l, 50)); err != nil {
		t.Fatalf("Verify over the tunnels: %v", err)
	}

	// Around the tunnel on the client's node: requests cross in the clear.
	names := wireguard.NamesOf(topo.RunID)
	h0 := nodeNetlink(t, topo.Nodes[0].Name)
	rules := rulesInto(t, h0, names)
	if len(rules) == 0 {
		t.Fatalf("node %s has no rule into tables %d and %d", topo.Nodes[0].Name, names.Table, names.PortTable)
	}
	for _, r := range rules {
		if err := h0.RuleDel(&r); err != nil {
			t.Fatal(err)
		}
	}
	err = dp.Verify(ctx, sendRequests(t, l, 20))
	if !errors.Is(err, datapaths.ErrNotInPath) || !strings.Contains(err.Error(), "plaintext TCP packets") {
		t.Errorf("Verify with a route around the tunnel = %v, want %v counting plaintext", err, datapaths.ErrNotInPath)
	}

	// Kill the server node's agent: its rules stay until the node agent
	// ends with the namespace.
	n1 := topo.Nodes[1].Name
	killAgent(t, n1, names.Device)
	if len(rulesInto(t, nodeNetlink(t, n1), names)) == 0 {
		t.Errorf("node %s: no rule left by the killed agent; the test shows nothing", n1)
	}
	uninstalled = true
	dp.Uninstall(ctx) // the killed agent's exit is an error
	if err := c.Delete(ctx); err != nil {
		t.Errorf("Delete: %v", err)
	}
	assertNoTables(t, client)
	assertNoWireGuard(t, client, topo.RunID)
}

// rulesInto returns the routing rules into names' tables, failing tb if they
// cannot be listed.
func rulesInto(tb testing.TB, h *netlink.Handle, names wireguard.Names) []netlink.Rule {
	tb.Helper()
	rules, err := names.Rules(h)
	if err != nil {
		tb.Fatal(err)
	}
	return rules
}

// killAgent sends SIGKILL to the WireGuard agent of device on the test
// cluster's node, found in /proc (the nodes share the host's PID
// namespace) by its arguments and network namespace.
func killAgent(tb testing.TB, node, device string) {
	tb.Helper()
	var want unix.Stat_t
	if err := unix.Stat(filepath.Join("/run/netns", node), &want); err != nil {
		tb.Fatal(err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "\x00"+wireguard.Role+"\x00") || !strings.Contains(string(b), `"device":"`+device+`"`) {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join(filepath.Dir(p), "ns", "net"), &st) != nil || st.Ino != want.Ino || st.Dev != want.Dev {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err := unix.Kill(pid, unix.SIGKILL); err != nil {
			tb.Fatal(err)
		}
		// Its TUN device goes with it.
		for range 50 {
			if _, err := nodeNetlink(tb, node).LinkByName(device); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		tb.Fatalf("device %s still on node %s after its agent was killed", device, node)
	}
	tb.Fatalf("no wireguard agent of %s on node %s", device, node)
}

// wireGuardCluster creates, through the kube provider on the local test
// cluster, a cluster of 2 nodes with a client on the first and a server
// on the second, with what dp injects.
func wireGuardCluster(t *testing.T, dp datapaths.Injector) (clusters.Cluster, kubernetes.Interface) {
	t.Helper()
	kubeconfig := testutil.KubeCluster(t)
	client := clientFor(t, kubeconfig)
	ctr := "ctr --address " + filepath.Join(filepath.Dir(kubeconfig), "nodes", kube.NodePlaceholder, "containerd.sock") + " --namespace k8s.io"
	t.Cleanup(func() { removeImages(t, client, ctr) })
	imp, err := kube.ImportCommand(strings.Fields(ctr + " images import " + kube.ArchivePlaceholder))
	if err != nil {
		t.Fatal(err)
	}
	p, err := kube.New(kube.Options{Kubeconfig: kubeconfig, Executable: buildStatic(t), Import: imp})
	if err != nil {
		t.Fatal(err)
	}
	spec := clusters.Spec{
		RunID: clusters.NewRunID() + "0",
		Nodes: 2,
		Services: []clusters.ServiceSpec{
			{Name: "client", Role: "client", Port: 80, TargetPort: 8080, PodNodes: []int{0}},
			{Name: "far", Role: "server", Port: 80, TargetPort: 8080, PodNodes: []int{1}},
		},
	}
	spec.Inject = dp.Injection(spec)
	c, err := p.Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("create cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Delete(context.Background()); err != nil {
			t.Errorf("delete cluster: %v", err)
		}
		assertNoNamespaces(t, client)
	})
	return c, client
}

// startLoad starts the server and a load agent sending to its service.
func startLoad(t *testing.T, c clusters.Cluster) *agentctl.Agent {
	t.Helper()
	start := func(pod string, args ...string) *agentctl.Agent {
		a, err := agentctl.Start(context.Background(), c, clusters.ProcSpec{
			Target: clusters.Target{Pod: pod}, Name: args[1] + " in pod " + pod, Args: args,
		})
		if err != nil {
			t.Fatalf("start %s: %v", args[1], err)
		}
		t.Cleanup(a.Stop)
		return a
	}
	svc, _ := c.Topology().Service("far")
	start(svc.Pods[0], agent.ServerOptions{Listen: ":8080", ResponseBytes: 1024}.Args()...)
	target := "http://" + netip.AddrPortFrom(svc.VIP, 80).String() + "/"
	return start("client-0", agent.LoadOptions{Targets: []string{target}, Connections: 2, Workers: agent.DefaultWorkers, Timeout: 5 * time.Second}.Args()...)
}

// sendRequests sends n requests and fails t unless every one succeeds; it
// returns the connections the load agent opened so far.
func sendRequests(t *testing.T, l *agentctl.Agent, n int) datapaths.Traffic {
	t.Helper()
	traffic, failed, err := attack(l, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d requests failed (first: %s)", len(failed), n, failed[0])
	}
	return traffic
}

// warmUp sends requests until they all succeed, for at most a minute:
// the nodes' kube-proxy programs the service a little after the API
// server lists its endpoints.
func warmUp(t *testing.T, l *agentctl.Agent) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, failed, err := attack(l, 5)
		switch {
		case err != nil:
			t.Fatal(err)
		case len(failed) == 0:
			return
		case time.Now().After(deadline):
			t.Fatalf("requests still fail after a minute: %s", failed[0])
		}
		time.Sleep(time.Second)
	}
}

// attack sends n requests and returns the connections the load agent
// opened so far and the requests that failed.
func attack(l *agentctl.Agent, n int) (datapaths.Traffic, []string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var failed []string
	got := 0
	if _, err := l.Attack(ctx, wire.Attack{Tag: "check", Count: n}, func(s []results.Sample) {
		for _, x := range s {
			got++
			if x.Error != "" || x.Code != 200 {
				failed = append(failed, fmt.Sprintf("code %d: %s", x.Code, x.Error))
			}
		}
	}); err != nil {
		return datapaths.Traffic{}, nil, fmt.Errorf("attack: %w", err)
	}
	for ; got < n; got++ {
		failed = append(failed, "no sample")
	}
	st, err := l.Stats(ctx)
	if err != nil {
		return datapaths.Traffic{}, nil, err
	}
	return datapaths.Traffic{Connections: st["connections"]}, failed, nil
}

// nodeNetlink opens netlink in the network namespace of the test
// cluster's node, which is named after it in /run/netns.
func nodeNetlink(tb testing.TB, node string) *netlink.Handle {
	tb.Helper()
	ns, err := netns.GetFromPath(filepath.Join("/run/netns", node))
	if err != nil {
		tb.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return h
}

// kernelWireGuard reports whether the test cluster's first node's kernel
// can add a WireGuard device.
func kernelWireGuard(tb testing.TB, client kubernetes.Interface) bool {
	tb.Helper()
	h := nodeNetlink(tb, nodeNames(tb, client)[0])
	probe := &netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: "mbwgprobe"}}
	err := h.LinkAdd(probe)
	if err == nil {
		h.LinkDel(probe)
	}
	return err == nil
}

// assertNoWireGuard checks that no node of the test cluster keeps a
// routing rule or route of the clusters clusterIDs, or any WireGuard or
// mbwg device.
func assertNoWireGuard(tb testing.TB, client kubernetes.Interface, clusterIDs ...string) {
	tb.Helper()
	for _, node := range nodeNames(tb, client) {
		h := nodeNetlink(tb, node)
		links, err := h.LinkList()
		if err != nil {
			tb.Fatal(err)
		}
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, "mbwg") || l.Type() == "wireguard" {
				tb.Errorf("node %s keeps device %s (%s)", node, l.Attrs().Name, l.Type())
			}
		}
		rules, err := h.RuleList(netlink.FAMILY_V4)
		if err != nil {
			tb.Fatal(err)
		}
		for _, id := range clusterIDs {
			names := wireguard.NamesOf(id)
			for _, r := range rules {
				if r.Table == names.Table || r.Table == names.PortTable {
					tb.Errorf("node %s keeps rule %v", node, r)
				}
			}
			for _, table := range []int{names.Table, names.PortTable} {
				routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
				if err != nil {
					tb.Fatal(err)
				}
				for _, r := range routes {
					tb.Errorf("node %s keeps route %v in table %d", node, r, table)
				}
			}
		}
	}
}

// nodeNames lists the test cluster's nodes.
func nodeNames(tb testing.TB, client kubernetes.Interface) []string {
	tb.Helper()
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, n := range nodes.Items {
		out = append(out, n.Name)
	}
	return out
}
