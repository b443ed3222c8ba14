package bench

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/internal/costagent"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
)

// costedDatapath is a datapath whose processes the test starts itself.
type costedDatapath struct {
	components []datapaths.Component
	bpf        map[string]uint64
}

func (costedDatapath) Install(context.Context, clusters.Cluster) error { return nil }
func (costedDatapath) Verify(context.Context, datapaths.Traffic) error { return nil }
func (costedDatapath) Uninstall(context.Context) error                 { return nil }
func (d costedDatapath) Components() []datapaths.Component             { return d.components }
func (d costedDatapath) BPFMemoryBytes(context.Context) (map[string]uint64, error) {
	return d.bpf, nil
}

// TestCostSamplerPerNode runs the cost agents on a two-node cluster with
// two application pods on n0 and a datapath process on n1 only: each
// node's figures must be its own processes'.
func TestCostSamplerPerNode(t *testing.T) {
	testutil.Privileged(t)
	ctx := context.Background()
	c, err := netns.New(netns.Options{}).Create(ctx, clusters.Spec{
		RunID:       clusters.NewRunID(),
		Nodes:       2,
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
		Services:    []clusters.ServiceSpec{{Name: "svc", Role: "server", Port: ServicePort, TargetPort: ServerPort, PodNodes: []int{0, 0}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Delete(context.Background()); err != nil {
			t.Errorf("delete cluster: %v", err)
		}
	})
	start := func(spec clusters.ProcSpec) {
		spec.Name, spec.Args = "server", agent.ServerOptions{Listen: ":8080"}.Args()
		a, err := agentctl.Start(ctx, c, spec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Stop)
	}
	topo := c.Topology()
	apps := map[string][]string{}
	for _, p := range topo.Pods {
		start(clusters.ProcSpec{Target: clusters.Target{Pod: p.Name}, Container: AppContainer})
		apps[p.Node] = append(apps[p.Node], p.ContainerCgroup(AppContainer))
	}
	n1, _ := topo.Node("n1")
	start(clusters.ProcSpec{Target: clusters.Target{Node: n1.Name}, Container: "proxy"})
	dp := costedDatapath{
		components: []datapaths.Component{{Node: n1.Name, Cgroup: n1.ContainerCgroup("proxy")}},
		bpf:        map[string]uint64{"n0": 4096},
	}

	s, err := startCostSampler(ctx, procAgents{}, c, dp, apps)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * costagent.Every)
	costs, err := s.stop(ctx, 1000, 2*results.GiB)
	if err != nil {
		t.Fatal(err)
	}
	if len(costs) != 2 || costs[0].Node != "n0" || costs[1].Node != "n1" {
		t.Fatalf("got %+v, want n0 and n1", costs)
	}
	const mib = 1 << 20
	n0, got1 := costs[0], costs[1]
	if n0.Proxies != 0 || n0.DatapathMemoryBytesMean != 4096 || n0.BPFMemoryBytes != 4096 || n0.DatapathCPUSeconds != 0 {
		t.Errorf("n0: got %+v, want no datapath process and the datapath's 4096 bytes of BPF", n0)
	}
	if n0.AppMemoryBytesMean < 2*mib {
		t.Errorf("n0: application memory %.1f MiB, want two servers' worth", n0.AppMemoryBytesMean/mib)
	}
	if got1.Proxies != 1 || got1.DatapathMemoryBytesMean < mib || got1.DatapathCgroupMemoryBytesMean <= 0 || got1.BPFMemoryBytes != 0 {
		t.Errorf("n1: got %+v, want one datapath process and its memory", got1)
	}
	if cpu := got1.DatapathCPUSeconds; got1.DatapathCPUPer1kRequests != cpu || got1.DatapathCPUPerGiB != cpu/2 {
		t.Errorf("n1: CPU per 1k requests %g and per GiB %g, want %g s over 1000 requests and 2 GiB", got1.DatapathCPUPer1kRequests, got1.DatapathCPUPerGiB, cpu)
	}
	if got1.AppMemoryBytesMean != 0 || got1.AppCPUSeconds != 0 {
		t.Errorf("n1: got %+v, want no application figures", got1)
	}
	for i, ca := range s.agents {
		a := ca.(costProc).proc
		// Alive reports the exit once the agent's output is drained.
		deadline := time.Now().Add(time.Second)
		for a.Alive() == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if a.Alive() == nil {
			t.Errorf("cost agent on %s still runs after stop", s.nodes[i])
		}
	}
}

// The node costs of an interleaved case's repetitions join into the
// case's: CPU adds up and is divided by all the requests, means are
// averaged over the repetitions, peaks and proxies are the largest; a
// stream's CPU is divided by all the bytes too.
func TestMergeCosts(t *testing.T) {
	w1 := []results.NodeCost{{Node: "n0", Proxies: 1, DatapathMemoryBytesMean: 100, DatapathMemoryBytesPeak: 150, DatapathUSSBytesMean: 10,
		DatapathCgroupMemoryBytesMean: 200, DatapathCPUSeconds: 1, AppMemoryBytesMean: 50, AppCPUSeconds: 2, BPFMemoryBytes: 8}}
	w2 := []results.NodeCost{{Node: "n0", Proxies: 2, DatapathMemoryBytesMean: 300, DatapathMemoryBytesPeak: 120, DatapathUSSBytesMean: 30,
		DatapathCgroupMemoryBytesMean: 400, DatapathCPUSeconds: 3, AppMemoryBytesMean: 70, AppCPUSeconds: 4, BPFMemoryBytes: 16}}
	got := mergeCosts([][]results.NodeCost{w1, w2}, 2000, 2*results.GiB)
	want := []results.NodeCost{{Node: "n0", Proxies: 2, DatapathMemoryBytesMean: 200, DatapathMemoryBytesPeak: 150, DatapathUSSBytesMean: 20,
		DatapathCgroupMemoryBytesMean: 300, DatapathCPUSeconds: 4, DatapathCPUPer1kRequests: 2, DatapathCPUPerGiB: 2, AppMemoryBytesMean: 60, AppCPUSeconds: 6, BPFMemoryBytes: 12}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeCosts =\n%+v\nwant\n%+v", got, want)
	}
	if w1[0].DatapathMemoryBytesMean != 100 {
		t.Errorf("mergeCosts changed its first window: %+v", w1[0])
	}
	if one := mergeCosts([][]results.NodeCost{w1}, 1000, 0); one[0].DatapathCPUPer1kRequests != 1 || one[0].DatapathCPUPerGiB != 0 || one[0].DatapathMemoryBytesMean != 100 {
		t.Errorf("mergeCosts of one window = %+v, want it with 1 CPU second per 1k requests", one[0])
	}
}
