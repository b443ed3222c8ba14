package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/none"
	"github.com/meshbench/meshbench/datapaths/sidecar"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/status"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// testCase is a quick-shaped case: one client, one server service.
func testCase(datapath, placement string, opts scenarios.DatapathOptions, pods int) scenarios.Case {
	return scenarios.Case{
		ID:       fmt.Sprintf("%s-%s-%s-mtls%v-proxy%s", datapath, placement, opts.Mode, opts.MTLS, opts.Proxy),
		Datapath: datapath, Options: opts, Placement: placement,
		Nodes: 3, Services: 1, PodsPerService: pods, ClientPods: 1,
		PodCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/16",
		Rate: 300, Duration: time.Second, Warmup: 300 * time.Millisecond,
		Connections: 4, ResponseBytes: 512, Repetitions: 1, ProbeRequests: 20,
	}
}

func runCases(tb testing.TB, cases ...scenarios.Case) []results.Case {
	tb.Helper()
	return runCasesAs(tb, clusters.NewRunID(), cases...)
}

// runCasesAs is runCases with the run id given: case i runs as runID+i.
func runCasesAs(tb testing.TB, runID string, cases ...scenarios.Case) []results.Case {
	tb.Helper()
	return runCasesWith(tb, runID, nil, cases...)
}

// runCasesWith is runCasesAs with the runner's status printer st (nil for
// none).
func runCasesWith(tb testing.TB, runID string, st *status.Printer, cases ...scenarios.Case) []results.Case {
	tb.Helper()
	testutil.Privileged(tb)
	r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: runID, Dir: tb.TempDir(), Status: st})
	out, err := r.Run(context.Background(), cases)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range cases {
		if left, err := netns.Leftovers(fmt.Sprintf("%s%d", runID, i)); err != nil || !left.Empty() {
			tb.Errorf("case %d left %+v (%v)", i, left, err)
		}
	}
	return out
}

// TestDatapathsInPath runs every proxy datapath variant and checks what is
// deterministic about them: they verify, every request succeeds, the
// number of proxies per node, and that a proxy lengthens the packet path.
func TestDatapathsInPath(t *testing.T) {
	l4 := scenarios.DatapathOptions{Mode: "l4"}
	l7 := scenarios.DatapathOptions{Mode: "l7"}
	mtls := scenarios.DatapathOptions{Mode: "l4", MTLS: true}
	cases := []scenarios.Case{
		testCase(none.Name, scenarios.CrossNode, scenarios.DatapathOptions{}, 2),
		testCase(sidecar.Name, scenarios.CrossNode, l4, 2),
		testCase(sidecar.Name, scenarios.CrossNode, l7, 2),
		testCase(sidecar.Name, scenarios.CrossNode, mtls, 2),
		testCase(nodeproxy.Name, scenarios.CrossNode, l4, 2),
		testCase(nodeproxy.Name, scenarios.CrossNode, l7, 2),
		testCase(nodeproxy.Name, scenarios.CrossNode, mtls, 2),
		testCase(nodeproxy.Name, scenarios.SameNode, l4, 2),
		testCase(ebpf.Name, scenarios.CrossNode, l4, 2),
		testCase(ebpf.Name, scenarios.CrossNode, scenarios.DatapathOptions{Mode: "l4", Proxy: "off"}, 2),
	}
	got := runCases(t, cases...)
	hops := map[string]float64{}
	for i, c := range got {
		if c.Status != "ok" {
			t.Errorf("%s: %s: %s", c.ID, c.Status, c.Error)
			continue
		}
		if c.ErrorRate != 0 {
			t.Errorf("%s: error rate %g", c.ID, c.ErrorRate)
		}
		hops[c.ID] = c.Path.HopsPerRequest
		proxies := map[string]int{}
		for _, n := range c.NodeCosts {
			proxies[n.Node] = n.Proxies
			if n.Proxies > 0 && (n.DatapathMemoryBytesMean <= 0 || n.DatapathCPUSeconds <= 0) {
				t.Errorf("%s: node %s has %d proxies but memory %g CPU %g", c.ID, n.Node, n.Proxies, n.DatapathMemoryBytesMean, n.DatapathCPUSeconds)
			}
		}
		// Cross-node: the client on n0, the two server pods on n1 and n2.
		want := map[string]int{"n0": 0, "n1": 0, "n2": 0}
		switch {
		case cases[i].Datapath == sidecar.Name:
			want = map[string]int{"n0": 1, "n1": 1, "n2": 1}
		case cases[i].Datapath == nodeproxy.Name,
			cases[i].Datapath == ebpf.Name && cases[i].Options.Proxy != "off":
			want = map[string]int{"n0": 1, "n1": 1, "n2": 1}
		}
		if cases[i].Datapath == ebpf.Name {
			for _, n := range c.NodeCosts {
				if n.BPFMemoryBytes <= 0 {
					t.Errorf("%s: node %s: no BPF memory counted", c.ID, n.Node)
				}
			}
			if c.Path.Redirects <= 0 {
				t.Errorf("%s: redirects per request %g, want the eBPF redirects counted", c.ID, c.Path.Redirects)
			}
		}
		for node, n := range want {
			if proxies[node] != n {
				t.Errorf("%s: proxies on %s: got %d, want %d", c.ID, node, proxies[node], n)
			}
		}
	}
	none, sidecar, ebpf := hops[got[0].ID], hops[got[1].ID], hops[got[8].ID]
	if !(sidecar > none) {
		t.Errorf("hops per request: sidecar %g, none %g; want the sidecar's loopback hops on top", sidecar, none)
	}
	if !(ebpf <= none) {
		t.Errorf("hops per request: ebpf %g, none %g; want the socket redirect to save hops", ebpf, none)
	}
}

func TestClusterSpecPlacesServers(t *testing.T) {
	tests := []struct {
		placement string
		want      string
	}{
		{scenarios.SameNode, "client:[0] svc-000:[0 0]"},
		{scenarios.CrossNode, "client:[0] svc-000:[1 2]"},
		{scenarios.Spread, "client:[0] svc-000:[0 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.placement, func(t *testing.T) {
			spec, err := clusterSpec("abc", 3, testCase(none.Name, tt.placement, scenarios.DatapathOptions{}, 2))
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, s := range spec.Services {
				parts = append(parts, fmt.Sprintf("%s:%v", s.Name, s.PodNodes))
			}
			if got := strings.Join(parts, " "); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if spec.RunID != "abc3" {
				t.Errorf("cluster id: got %q, want the run id and case index", spec.RunID)
			}
		})
	}
}

// The scenario format and the agents name the same protocols, HTTP/1.1
// clients and gRPC bound, so that every protocol, client and size a
// scenario may list is one the agents carry.
func TestProtocolsMatchAgents(t *testing.T) {
	if !slices.Equal(scenarios.Protocols, agent.Protocols) {
		t.Errorf("scenarios.Protocols = %q, agent.Protocols = %q; want the same", scenarios.Protocols, agent.Protocols)
	}
	if !slices.Equal(scenarios.Clients, agent.Clients) {
		t.Errorf("scenarios.Clients = %q, agent.Clients = %q; want the same", scenarios.Clients, agent.Clients)
	}
	if scenarios.MaxGRPCBytes != agent.MaxGRPCBytes {
		t.Errorf("scenarios.MaxGRPCBytes = %d, agent.MaxGRPCBytes = %d; want the same", scenarios.MaxGRPCBytes, agent.MaxGRPCBytes)
	}
}

// TestProtocolsThroughDatapaths runs every protocol through none, through
// sidecars asked for l7 with mTLS and through ebpf's node proxies: every
// request succeeds, the case records its protocol, and the sidecar ran
// http1, h2c and grpc at l7 and tcp-rr and tcp-crr at l4, saying so.
func TestProtocolsThroughDatapaths(t *testing.T) {
	l7mtls := scenarios.DatapathOptions{Mode: scenarios.ModeL7, MTLS: true}
	var cases []scenarios.Case
	for _, p := range scenarios.Protocols {
		for _, c := range []scenarios.Case{
			testCase(none.Name, scenarios.CrossNode, scenarios.DatapathOptions{}, 1),
			testCase(sidecar.Name, scenarios.CrossNode, l7mtls, 1),
			testCase(ebpf.Name, scenarios.CrossNode, scenarios.DatapathOptions{Mode: scenarios.ModeL4}, 1),
		} {
			c.ID += "-" + p
			c.Protocol = p
			c.RequestBytes = 64
			c.L7Fallback = c.Options.Mode == scenarios.ModeL7 && !scenarios.HTTPAware(p)
			if c.L7Fallback {
				c.Options.Mode = scenarios.ModeL4
			}
			cases = append(cases, c)
		}
	}
	// tcp-crr also through the datapaths whose connection counts it
	// checks in other ways: a node proxy's accepts, connect4 balancing.
	for _, c := range []scenarios.Case{
		testCase(nodeproxy.Name, scenarios.CrossNode, scenarios.DatapathOptions{Mode: scenarios.ModeL4}, 1),
		testCase(ebpf.Name, scenarios.CrossNode, scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOff}, 1),
	} {
		c.ID += "-" + scenarios.TCPCRR
		c.Protocol = scenarios.TCPCRR
		cases = append(cases, c)
	}
	got := runCases(t, cases...)
	for i, c := range got {
		want := cases[i]
		if c.Status != "ok" {
			t.Errorf("%s: %s: %s", c.ID, c.Status, c.Error)
			continue
		}
		if c.Protocol == scenarios.Stream {
			// Every transfer's bytes were acknowledged by its server
			// and summed by the runner against the servers' count.
			if st := c.Stream; c.ErrorRate != 0 || st == nil || st.Failed != 0 || st.Connections != c.Connections || st.Bytes == 0 || st.Gbps <= 0 {
				t.Errorf("%s: stream %+v, error rate %g; want %d transfers, none failed, bytes moved", c.ID, st, c.ErrorRate, c.Connections)
			}
			if c.LatencyUS != (results.Latency{}) || c.Path != nil {
				t.Errorf("%s: latency %+v, path %+v; want none for a stream", c.ID, c.LatencyUS, c.Path)
			}
			for _, rep := range c.Repetitions {
				if rep.Samples != "" || rep.Histogram != "" || rep.Stream == nil {
					t.Errorf("%s: repetition %d has samples %q, a histogram, stream %+v; want its stream figures alone", c.ID, rep.Index, rep.Samples, rep.Stream)
				}
			}
			continue
		} else if c.ErrorRate != 0 || c.Requests == 0 {
			var kinds []map[string]uint64
			for _, rep := range c.Repetitions {
				kinds = append(kinds, rep.ErrorKinds)
			}
			t.Errorf("%s: error rate %g over %d requests, want none failed (errors %v)", c.ID, c.ErrorRate, c.Requests, kinds)
		}
		if c.Protocol != want.Protocol || c.L7Fallback != want.L7Fallback {
			t.Errorf("%s: protocol %q, l7 fallback %t; want %q, %t", c.ID, c.Protocol, c.L7Fallback, want.Protocol, want.L7Fallback)
		}
		if want.Datapath == sidecar.Name && c.Mode != want.Options.Mode {
			t.Errorf("%s: mode %q, want %q", c.ID, c.Mode, want.Options.Mode)
		}
		if (c.ConnectUS != nil) != (c.Protocol == scenarios.TCPCRR) || c.ConnectUS != nil && !(c.ConnectUS.P50 > 0 && c.ConnectUS.P50 <= c.LatencyUS.P50) {
			t.Errorf("%s: connect latency %+v (total p50 %gµs), want a connect p50 within the total for tcp-crr only", c.ID, c.ConnectUS, c.LatencyUS.P50)
		}
		if c.Path == nil || c.Path.HopsPerRequest <= 0 {
			t.Errorf("%s: path %+v, want hops counted", c.ID, c.Path)
		}
	}
}

// With cluster reuse every datapath after the first runs in the first
// case's cluster, each uninstalled without a trace (Residue finds nothing,
// or the cluster would be made afresh), and is still verified in the path;
// in interleaved order the datapaths take turns. Nothing is left.
func TestReuseAndInterleaveOnNetns(t *testing.T) {
	testutil.Privileged(t)
	l4 := scenarios.DatapathOptions{Mode: "l4"}
	var cases []scenarios.Case
	for _, c := range []struct {
		dp   string
		opts scenarios.DatapathOptions
	}{
		{none.Name, scenarios.DatapathOptions{}},
		{sidecar.Name, l4},
		{sidecar.Name, scenarios.DatapathOptions{Mode: "l7", MTLS: true}},
		{nodeproxy.Name, scenarios.DatapathOptions{Mode: "l4", MTLS: true}},
		{ebpf.Name, l4},
		{ebpf.Name, scenarios.DatapathOptions{Mode: "l4", Proxy: "off"}},
	} {
		tc := testCase(c.dp, scenarios.CrossNode, c.opts, 1)
		tc.Repetitions = 2
		cases = append(cases, tc)
	}
	for _, order := range []string{scenarios.OrderSequential, scenarios.OrderInterleaved} {
		t.Run(order, func(t *testing.T) {
			runID := clusters.NewRunID()
			r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: runID, Dir: t.TempDir(),
				Order: order, ReuseClusters: true})
			out, err := r.Run(t.Context(), cases)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range out {
				// Interleaved, the datapaths of the point are up at once,
				// each in a cluster of its own.
				wantReused := i > 0 && order == scenarios.OrderSequential
				if c.Status != "ok" || len(c.Repetitions) != 2 || c.ReusedCluster != wantReused || c.Path == nil {
					t.Errorf("case %s: status %q (%s), %d repetitions, reused %v, path %v; want ok, 2, %v, a path",
						c.ID, c.Status, c.Error, len(c.Repetitions), c.ReusedCluster, c.Path, wantReused)
				}
			}
			for i := range cases {
				if left, err := netns.Leftovers(fmt.Sprintf("%s%d", runID, i)); err != nil || !left.Empty() {
					t.Errorf("case %d left %+v (%v)", i, left, err)
				}
			}
		})
	}
}
