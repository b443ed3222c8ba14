package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/sidecar"
	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/costagent"
	"github.com/meshbench/meshbench/scenarios"
)

// capBits are the capabilities' numbers, as the kernel reports them.
var capBits = map[clusters.Capability]uint{
	clusters.CapNetAdmin: unix.CAP_NET_ADMIN, clusters.CapNetRaw: unix.CAP_NET_RAW,
	clusters.CapBPF: unix.CAP_BPF, clusters.CapPerfmon: unix.CAP_PERFMON,
	clusters.CapSysAdmin: unix.CAP_SYS_ADMIN, clusters.CapSysPtrace: unix.CAP_SYS_PTRACE,
}

func capMask(tb testing.TB, caps ...clusters.Capability) uint64 {
	tb.Helper()
	var m uint64
	for _, c := range caps {
		n, ok := capBits[c]
		if !ok {
			tb.Fatalf("capability %s has no number in this test", c)
		}
		m |= 1 << n
	}
	return m
}

// TestAgentsKeepOnlyTheirCapabilities reads, while cases of every proxy
// datapath run, the effective capabilities (/proc/PID/status CapEff) of
// every agent of the run and checks each against its role's set: none for
// the applications, NET_ADMIN for proxies and steering (and NET_RAW with
// it in a NetAdmin container, as Kubernetes grants), the BPF roles theirs.
// It also checks that every process in a pod has a mount namespace of its
// own that hides the host's files and the other pods' state.
func TestAgentsKeepOnlyTheirCapabilities(t *testing.T) {
	cases := []scenarios.Case{
		testCase(sidecar.Name, scenarios.CrossNode, scenarios.DatapathOptions{Mode: "l4"}, 1),
		testCase(nodeproxy.Name, scenarios.CrossNode, scenarios.DatapathOptions{Mode: "l4"}, 1),
		testCase(ebpf.Name, scenarios.CrossNode, scenarios.DatapathOptions{Mode: "l4"}, 1),
	}
	netAdmin := capMask(t, clusters.CapNetAdmin)
	container := capMask(t, clusters.CapNetAdmin, clusters.CapNetRaw)
	// want lists the sets a role may hold, by datapath ("" for any).
	want := map[string]map[string][]uint64{
		agent.ServerRole: {"": {0}},
		agent.LoadRole:   {"": {0}},
		proxy.Role:       {sidecar.Name: {container}, nodeproxy.Name: {netAdmin}, ebpf.Name: {netAdmin}},
		// The sidecar's init container, or a node's steering.
		steer.Role:     {"": {container, netAdmin}},
		ebpf.Role:      {"": {capMask(t, ebpf.AgentCaps...)}},
		costagent.Role: {"": {capMask(t, costagent.Caps...)}},
		pathprobe.Role: {"": {capMask(t, pathprobe.Caps...)}},
	}
	runID := clusters.NewRunID()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg   sync.WaitGroup
		seen = map[string]int{} // role: processes checked
		bad  []string
	)
	wg.Go(func() {
		checked := map[string]bool{}
		for ctx.Err() == nil {
			procs, _ := filepath.Glob("/proc/[0-9]*")
			for _, p := range procs {
				if checked[p] {
					continue
				}
				caseID, role, capEff, ok := agentCaps(p)
				i, err := strconv.Atoi(strings.TrimPrefix(caseID, runID))
				if !ok || !strings.HasPrefix(caseID, runID) || err != nil || i >= len(cases) {
					continue // not an agent, or another run's
				}
				checked[p] = true
				seen[role]++
				dp := cases[i].Datapath
				if inPod(p) {
					seen["in a pod"]++
					bad = append(bad, podFiles(p, caseID, role, dp)...)
				}
				sets, ok := want[role][""]
				if !ok {
					sets = want[role][dp]
				}
				okSet := false
				for _, s := range sets {
					okSet = okSet || s == capEff
				}
				if !okSet {
					bad = append(bad, fmt.Sprintf("%s: %s agent of datapath %s has CapEff %#x (%d capabilities), want one of %#x",
						p, role, dp, capEff, bits.OnesCount64(capEff), sets))
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	got := runCasesAs(t, runID, cases...)
	cancel()
	wg.Wait()
	for _, c := range got {
		if c.Status != "ok" {
			t.Errorf("%s: %s: %s", c.ID, c.Status, c.Error)
		}
		// What the cost agent and the probe read with their capabilities.
		var dpMem, appMem, bpfMem float64
		for _, n := range c.NodeCosts {
			dpMem, appMem, bpfMem = dpMem+n.DatapathMemoryBytesMean, appMem+n.AppMemoryBytesMean, bpfMem+n.BPFMemoryBytes
		}
		if dpMem == 0 || appMem == 0 || c.Datapath == ebpf.Name && bpfMem == 0 {
			t.Errorf("%s: datapath memory %.0f, apps' %.0f, BPF %.0f bytes: want each measured", c.ID, dpMem, appMem, bpfMem)
		}
		if c.Path == nil || c.Path.HopsPerRequest == 0 {
			t.Errorf("%s: no packet path measured: %+v", c.ID, c.Path)
		}
	}
	for _, role := range []string{agent.ServerRole, agent.LoadRole, proxy.Role, ebpf.Role, costagent.Role, pathprobe.Role, "in a pod"} {
		if seen[role] == 0 {
			t.Errorf("saw no %s agent: the scan did not cover the run", role)
		}
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// agentCaps reads the run id, role and effective capabilities of the
// process at /proc/PID, if it is an agent of a run.
func agentCaps(proc string) (runID, role string, capEff uint64, ok bool) {
	env, err := os.ReadFile(filepath.Join(proc, "environ"))
	if err != nil {
		return "", "", 0, false
	}
	for kv := range bytes.SplitSeq(env, []byte{0}) {
		if v, found := bytes.CutPrefix(kv, []byte(netns.RunIDEnv+"=")); found {
			runID = string(v)
		}
	}
	cmdline, err := os.ReadFile(filepath.Join(proc, "cmdline"))
	status, serr := os.ReadFile(filepath.Join(proc, "status"))
	if runID == "" || err != nil || serr != nil {
		return "", "", 0, false
	}
	args := strings.Split(string(cmdline), "\x00")
	for i := 1; i < len(args); i++ {
		if args[i-1] == "agent" || args[i-1] == agent.FilesOnStdin {
			role = args[i]
		}
		if role != "" && role != agent.FilesOnStdin {
			break
		}
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, found := strings.CutPrefix(line, "CapEff:"); found {
			capEff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return runID, role, capEff, err == nil && role != ""
		}
	}
	return "", "", 0, false
}

// inPod says whether the process runs in a pod's cgroup
// (meshbench-R/<node>/<pod>/<container>) rather than a node's
// (meshbench-R/<node>/<container>).
func inPod(proc string) bool {
	b, err := os.ReadFile(filepath.Join(proc, "cgroup"))
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		if v2, ok := strings.CutPrefix(line, "0::"); ok {
			return strings.Count(v2[strings.Index(v2, "/meshbench-")+1:], "/") == 3
		}
	}
	return false
}

// podFiles checks what a pod process sees of the file system: not the
// host's mount namespace, not its /etc, and of the datapath's state only
// its own directory.
func podFiles(proc, runID, role, dp string) []string {
	var bad []string
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	its, err2 := os.Readlink(filepath.Join(proc, "ns", "mnt"))
	if err1 != nil || err2 != nil || self == its {
		bad = append(bad, fmt.Sprintf("%s: %s agent in a pod shares the host's mount namespace %s (%v, %v)", proc, role, its, err1, err2))
	}
	if _, err := os.Stat(filepath.Join(proc, "root", "etc", "passwd")); err == nil {
		bad = append(bad, fmt.Sprintf("%s: %s agent in a pod sees the host's /etc/passwd", proc, role))
	}
	if role == proxy.Role {
		state := filepath.Join(proc, "root", datapaths.StatePath(runID, dp))
		entries, err := os.ReadDir(state)
		if err != nil || len(entries) != 1 {
			bad = append(bad, fmt.Sprintf("%s: %s agent in a pod sees %d state directories in %s (%v), want its own only", proc, role, len(entries), state, err))
		}
	}
	return bad
}
