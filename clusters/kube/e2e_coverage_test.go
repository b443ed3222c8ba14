package kube_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/meshbench/meshbench/clusters/kube"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
	"github.com/meshbench/meshbench/internal/hostfs"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
)

// TestCoverageOnTestCluster runs the coverage scenario's mesh datapaths
// on the local test cluster, with a mislabelled pod (the real webhook
// skipped it) and a host process (in the client node's network namespace,
// in a cgroup of its own outside kubepods) beside the meshed client, and
// checks the exact counts of each datapath's own per-source counters: a
// sidecar mesh saw none of the unmeshed sources' requests; the node proxy
// the mislabelled pod's but not the host process's (it steers at
// prerouting, which a node's own connections do not cross); eBPF per pod
// neither; eBPF at the node the mislabelled pod's, and not the host
// process's, which is outside the kubepods cgroup its programs hook. After
// the run no namespace, steering table, host cgroup, host process or
// program attached at a node's kubepods is left.
func TestCoverageOnTestCluster(t *testing.T) {
	cgroups, err := hostfs.DetectCgroupsIn("/")
	if err != nil {
		t.Fatal(err)
	}
	run, client := runOnTestCluster(t, "coverage", "--datapaths", "sidecar,nodeproxy,ebpf,ebpf-node")
	if len(run.Cases) != 4 {
		t.Fatalf("%d cases, want 4", len(run.Cases))
	}
	covered := map[string]map[string]bool{ // datapath -> sources covered
		"sidecar":   {results.SourceMeshed: true},
		"nodeproxy": {results.SourceMeshed: true, results.SourceMislabelled: true},
		"ebpf":      {results.SourceMeshed: true},
		"ebpf-node": {results.SourceMeshed: true, results.SourceMislabelled: true},
	}
	for _, c := range run.Cases {
		name := c.Datapath // the scenario's name: ebpf-node is ebpf attached at the node
		if (name == "ebpf-node") != (c.Attach == "node") {
			t.Errorf("case %s attached at %q", c.ID, c.Attach)
		}
		t.Run(name, func(t *testing.T) {
			if c.Status != "ok" {
				t.Fatalf("status %s: %s", c.Status, c.Error)
			}
			cov := c.Coverage
			if cov == nil || !cov.Counted || len(cov.Sources) != 3 {
				t.Fatalf("coverage %+v, want three counted sources", cov)
			}
			want := uint64(c.Rate * c.DurationS)
			for _, s := range cov.Sources {
				through := uint64(0)
				if covered[name][s.Source] {
					through = s.Sent
				}
				t.Logf("%s: sent %d, answered %d, through %v, datapath connections %d of %d, BPF %v",
					s.Source, s.Sent, s.Succeeded, deref(s.Through), s.DatapathConnections, s.Connections, deref(s.BPFConnections))
				if s.Through == nil || *s.Through != through {
					t.Errorf("%s: %v requests through the datapath, want %d", s.Source, deref(s.Through), through)
				}
				if s.Observable == nil || *s.Observable != through {
					t.Errorf("%s: %v requests observable, want %d", s.Source, deref(s.Observable), through)
				}
				if s.Sent != want || s.Succeeded != want {
					t.Errorf("%s: %d requests sent, %d answered, want %d and %d", s.Source, s.Sent, s.Succeeded, want, want)
				}
				if bpf := s.BPFConnections; strings.HasPrefix(name, "ebpf") && (bpf == nil || (*bpf > 0) != (through > 0)) {
					t.Errorf("%s: the BPF map counted %v steered connections, the proxies %d", s.Source, deref(bpf), s.DatapathConnections)
				}
			}
			if host := cov.Sources[2]; name == "ebpf-node" && !strings.Contains(cov.Reach, "no process started on the node outside Kubernetes") {
				t.Errorf("host process not reached, but the reach %q does not say why (note %q)", cov.Reach, host.Note)
			}
		})
	}
	assertNoNamespaces(t, client)
	assertNoTables(t, client)
	assertNoHostProcesses(t, cgroups)
}

// TestCoverageInterruptOnTestCluster interrupts a run while its host
// process sends (SIGINT), and kills one there (SIGKILL), its host role on
// the node too, then runs `meshbench cleanup`: either way no host process,
// host cgroup, program at kubepods or namespace is left.
func TestCoverageInterruptOnTestCluster(t *testing.T) {
	kubeconfig := testutil.KubeCluster(t)
	client := clientFor(t, kubeconfig)
	cgroups, err := hostfs.DetectCgroupsIn("/")
	if err != nil {
		t.Fatal(err)
	}
	exe := buildStatic(t)
	ctr := "ctr --address " + filepath.Join(filepath.Dir(kubeconfig), "nodes", kube.NodePlaceholder, "containerd.sock") + " --namespace k8s.io"
	t.Cleanup(func() { removeImages(t, client, ctr) })
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(exe, "run", "coverage", "--datapaths", "ebpf-node", "--duration", "20s", "--repetitions", "1",
				"--out", t.TempDir(), "--provider", "kube", "--kubeconfig", kubeconfig,
				"--image-import", ctr+" images import "+kube.ArchivePlaceholder)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if !waitForHostProcess(t, cgroups, done) {
				t.Fatalf("no host process showed up; stderr:\n%s", stderr.String())
			}
			if sig == syscall.SIGKILL {
				// The host role dies too, before it can remove its
				// cgroup: its child must die with it (parent-death
				// signal), and the node agent remove the cgroup.
				killHostRoles(t)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err == nil {
				t.Errorf("run exited 0 after %s", sig)
			}
			if sig == syscall.SIGKILL {
				out, err := exec.Command(exe, "cleanup", "--all", "--provider", "kube", "--kubeconfig", kubeconfig).CombinedOutput()
				if err != nil {
					t.Fatalf("meshbench cleanup: %v\n%s", err, out)
				}
			}
			assertNoNamespaces(t, client)
			assertNoTables(t, client)
			assertNoHostProcesses(t, cgroups)
			if t.Failed() {
				t.Logf("meshbench run's stderr:\n%s", stderr.String())
			}
		})
	}
}

// killHostRoles sends SIGKILL to the host roles (kubenode.HostRole) of
// the test's run on the test cluster's nodes, which share this host's PID
// namespace.
func killHostRoles(tb testing.TB) {
	tb.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	killed := 0
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "agent\x00"+kubenode.HostRole+"\x00") {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			killed++
		}
	}
	if killed == 0 {
		tb.Fatal("no host role to kill")
	}
}

// waitForHostProcess waits until a process runs in a host cgroup beside a
// kubepods cgroup, or the run ends (done); it reports whether one did.
func waitForHostProcess(tb testing.TB, cgroups hostfs.Cgroups, done chan error) bool {
	nodes := nodeCgroups(tb, cgroups, false)
	for range 600 {
		select {
		case err := <-done:
			done <- err // the caller waits too
			return false
		case <-time.After(200 * time.Millisecond):
		}
		for _, n := range nodes {
			procs, _ := filepath.Glob(filepath.Join(n, "meshbench-*", "host-*", "cgroup.procs"))
			for _, p := range procs {
				if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) > 0 {
					return true
				}
			}
		}
	}
	return false
}

func deref[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}

// assertNoHostProcesses checks that no run's host cgroup (meshbench-<run
// id>, beside a node's kubepods) or process in one is left on the test
// cluster's nodes, and that no kubepods cgroup keeps a program of the
// eBPF datapath. (The netns provider's cgroups, of other runs on this
// machine, are named alike but lie beside no kubepods.)
func assertNoHostProcesses(tb testing.TB, cgroups hostfs.Cgroups) {
	tb.Helper()
	nodes := nodeCgroups(tb, cgroups, true)
	for _, n := range nodes {
		left, _ := filepath.Glob(filepath.Join(n, "meshbench-*"))
		for _, l := range left {
			tb.Errorf("host cgroup %s left", l)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process exited
		}
		v2, _ := hostfs.ParseProcCgroup(string(b))
		for _, n := range nodes {
			if strings.HasPrefix(cgroups.Dir(v2), filepath.Join(n, "meshbench-")) {
				tb.Errorf("process %s left in host cgroup %s", filepath.Dir(p), v2)
			}
		}
	}
}

// nodeCgroups returns the test cluster's nodes' cgroups, the parents of
// their kubepods cgroups, and checks, with programs, that none of these
// keeps a program attached.
func nodeCgroups(tb testing.TB, cgroups hostfs.Cgroups, programs bool) []string {
	tb.Helper()
	var nodes []string
	err := filepath.WalkDir(cgroups.V2, func(p string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // a cgroup removed while we walk
		case err != nil:
			return err
		case !d.IsDir() || d.Name() != "kubepods":
			return nil
		}
		nodes = append(nodes, filepath.Dir(p))
		if programs {
			assertNoPrograms(tb, p)
		}
		return fs.SkipDir
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(nodes) == 0 {
		tb.Fatalf("no kubepods cgroup below %s: where are the test cluster's pods?", cgroups.V2)
	}
	return nodes
}

// assertNoPrograms checks that no cgroup program of the kinds the eBPF
// datapath attaches is attached to the cgroup dir.
func assertNoPrograms(tb testing.TB, dir string) {
	tb.Helper()
	f, err := os.Open(dir)
	if err != nil {
		tb.Errorf("open cgroup %s: %v", dir, err)
		return
	}
	defer f.Close()
	for _, at := range []ebpf.AttachType{ebpf.AttachCGroupInet4Connect, ebpf.AttachCGroupSockOps, ebpf.AttachCGroupGetsockopt} {
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: at})
		if err != nil {
			tb.Errorf("query %s programs of %s: %v", at, dir, err)
			continue
		}
		if len(res.Programs) > 0 {
			tb.Errorf("%d %s programs left attached to %s", len(res.Programs), at, dir)
		}
	}
}
