package bench

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/scenarios"
)

func waypointOptions(node string) scenarios.DatapathOptions {
	return scenarios.DatapathOptions{Mode: scenarios.ModeL4, MTLS: true, Proxy: scenarios.ProxyOn, Waypoint: true, WaypointNode: node}
}

// TestWaypointVerify runs nodeproxy with a waypoint on either node: verify
// passes, the waypoint having counted exactly the requests the load agent
// sent, and fails for one request more than it counted. Then it lets
// every other connection go around the waypoint, still through both node
// proxies (so the node proxies' own check passes), and expects verify to
// fail on the waypoint's count.
func TestWaypointVerify(t *testing.T) {
	testutil.Privileged(t)
	for _, node := range []string{scenarios.WaypointClientNode, scenarios.WaypointServerNode} {
		for _, bypass := range []bool{false, true} {
			name := node
			if bypass {
				name += "/half bypassed"
			}
			t.Run(name, func(t *testing.T) {
				c := testCase(nodeproxy.Name, scenarios.CrossNode, waypointOptions(node), 1)
				if bypass {
					// h2c opens exactly its connections (4), so that every
					// other one goes around the waypoint; http1 opens them
					// as the load needs, and at this rate one may do.
					c.Protocol = scenarios.H2C
				}
				r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: clusters.NewRunID()})
				cr := &caseRun{c: c}
				ctx := context.Background()
				defer r.teardown(ctx, cr)
				if err := r.setup(ctx, cr); err != nil {
					t.Fatal(err)
				}
				if bypass {
					bypassWaypointHalf(t, cr.cluster.Topology())
				}
				if _, _, err := r.attack(ctx, cr, "warmup", c.Warmup); err != nil {
					t.Fatal(err)
				}
				err := r.verify(ctx, cr)
				if bypass {
					if !errors.Is(err, datapaths.ErrNotInPath) || !strings.Contains(err.Error(), "waypoints received") {
						t.Errorf("verify with every other connection around the waypoint = %v, want %v with the waypoints' count", err, datapaths.ErrNotInPath)
					}
					return
				}
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				sent, err := r.sent(ctx, cr)
				if err != nil {
					t.Fatal(err)
				}
				if sent.Requests == 0 || sent.Failed != 0 {
					t.Fatalf("the load agent sent %+v, want requests and no failures", sent)
				}
				sent.Requests++
				if err := cr.dp.Verify(ctx, sent); !errors.Is(err, datapaths.ErrNotInPath) {
					t.Errorf("verify with one request more than the waypoint saw = %v, want %v", err, datapaths.ErrNotInPath)
				}
			})
		}
	}
}

// bypassWaypointHalf sends every other new connection of the client pod
// to the server's VIP around the waypoint but still through the node
// proxies: the client pod's namespace rewrites its destination to the
// server pod's address, which the node's own rule then redirects to the
// node proxy, which has no waypoint for a pod address and tunnels it
// straight to the server's node proxy.
func bypassWaypointHalf(tb testing.TB, topo *clusters.Topology) {
	tb.Helper()
	client, _ := topo.Pod("client-0")
	node, _ := topo.Node(client.Node)
	var svc clusters.Service
	for _, s := range topo.Services {
		if s.Role == "server" {
			svc = s
		}
	}
	server, _ := topo.Pod(svc.Pods[0])
	vip := netip.AddrPortFrom(svc.VIP, uint16(svc.Port))
	pod := netip.AddrPortFrom(server.IP, uint16(svc.TargetPort))
	tcpTo := func(dst netip.AddrPort) []expr.Any {
		a := dst.Addr().As4()
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(dst.Port())},
		}
	}
	podAddr := pod.Addr().As4()
	dnatHalf := append(tcpTo(vip),
		&expr.Numgen{Register: 1, Modulus: 2, Type: unix.NFT_NG_INCREMENTAL},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Immediate{Register: 1, Data: podAddr[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(pod.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
	)
	redirect := append(tcpTo(pod),
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(15001)},
		&expr.Redir{RegisterProtoMin: 1},
	)
	addNAT(tb, client.NetNS, *nftables.ChainHookOutput, dnatHalf)
	addNAT(tb, node.NetNS, *nftables.ChainHookPrerouting, redirect)
}

// addNAT adds a NAT chain at hook with one rule to the namespace at ns.
func addNAT(tb testing.TB, ns string, hook nftables.ChainHook, rule []expr.Any) {
	tb.Helper()
	err := nsenter.Do(ns, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tab := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "bypass-waypoint"})
		prio := nftables.ChainPriority(-150)
		ch := c.AddChain(&nftables.Chain{Name: "bypass", Table: tab, Type: nftables.ChainTypeNAT, Hooknum: &hook, Priority: &prio})
		c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: rule})
		return c.Flush()
	})
	if err != nil {
		tb.Fatalf("add the bypass rule in %s: %v", ns, err)
	}
}

// TestWaypointCases runs nodeproxy with mTLS without and with a waypoint
// on either node, two server pods on n1 and n2: every case verifies and
// leaves nothing behind, the waypoint's pod counts as a proxy of its node,
// and the waypoint lengthens the packet path.
func TestWaypointCases(t *testing.T) {
	mtls := scenarios.DatapathOptions{Mode: scenarios.ModeL4, MTLS: true, Proxy: scenarios.ProxyOn}
	cases := []scenarios.Case{
		testCase(nodeproxy.Name, scenarios.CrossNode, mtls, 2),
		testCase(nodeproxy.Name, scenarios.CrossNode, waypointOptions(scenarios.WaypointClientNode), 2),
		testCase(nodeproxy.Name, scenarios.CrossNode, waypointOptions(scenarios.WaypointServerNode), 2),
	}
	for i := range cases[1:] {
		cases[i+1].ID += "-waypoint-" + cases[i+1].Options.WaypointNode
	}
	// Client n0; server pods n1, n2; the waypoint on n0 or on n1, the
	// node of the service's first pod.
	want := []map[string]int{
		{"n0": 1, "n1": 1, "n2": 1},
		{"n0": 2, "n1": 1, "n2": 1},
		{"n0": 1, "n1": 2, "n2": 1},
	}
	got := runCases(t, cases...)
	for i, c := range got {
		if c.Status != "ok" || c.ErrorRate != 0 {
			t.Fatalf("%s: %s (error rate %g): %s", c.ID, c.Status, c.ErrorRate, c.Error)
		}
		proxies := map[string]int{}
		for _, n := range c.NodeCosts {
			proxies[n.Node] = n.Proxies
		}
		for node, n := range want[i] {
			if proxies[node] != n {
				t.Errorf("%s: proxies on %s: got %d, want %d", c.ID, node, proxies[node], n)
			}
		}
		if i > 0 && !(c.Path.HopsPerRequest > got[0].Path.HopsPerRequest) {
			t.Errorf("%s: %g hops per request, without the waypoint %g; want the waypoint's on top", c.ID, c.Path.HopsPerRequest, got[0].Path.HopsPerRequest)
		}
		t.Logf("%s: %g hops per request, proxies per node %v", c.ID, c.Path.HopsPerRequest, proxies)
	}
}

// TestWaypointProtocols runs h2c and grpc through a waypoint, which
// balances and counts each stream: every case verifies the waypoint's
// count against the load agent's requests.
func TestWaypointProtocols(t *testing.T) {
	var cases []scenarios.Case
	for _, p := range []string{scenarios.H2C, scenarios.GRPC} {
		c := testCase(nodeproxy.Name, scenarios.CrossNode, waypointOptions(scenarios.WaypointServerNode), 1)
		c.ID += "-waypoint-" + p
		c.Protocol = p
		c.RequestBytes = 64
		cases = append(cases, c)
	}
	for _, c := range runCases(t, cases...) {
		if c.Status != "ok" || c.ErrorRate != 0 {
			t.Errorf("%s: %s (error rate %g): %s", c.ID, c.Status, c.ErrorRate, c.Error)
		}
	}
}
