package wireguard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/meshbench/meshbench/clusters"
	netnsprov "github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/none"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/agent/agenttest"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// TestMain runs the roles the tests start: the node agent, the node
// proxies and their steering, and the workloads.
func TestMain(m *testing.M) {
	agenttest.Main(m, agent.Roles{
		Role:             NodeAgent,
		proxy.Role:       proxy.Main,
		steer.Role:       steer.Run,
		agent.ServerRole: agent.Server,
		agent.LoadRole:   agent.Load,
	})
}

const (
	servicePort = 80
	serverPort  = 8080
)

// spec is a 2-node cluster: a client on n0 and a server on n1.
func spec() clusters.Spec {
	return clusters.Spec{
		RunID:       clusters.NewRunID(),
		Nodes:       2,
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
		Services: []clusters.ServiceSpec{
			{Name: "client", Role: "client", Port: servicePort, TargetPort: serverPort, PodNodes: []int{0}},
			{Name: "far", Role: "server", Port: servicePort, TargetPort: serverPort, PodNodes: []int{1}},
		},
	}
}

func newCluster(tb testing.TB, dp datapaths.Datapath) clusters.Cluster {
	tb.Helper()
	s := spec()
	s.Inject = dp.(datapaths.Injector).Injection(s)
	c, err := netnsprov.New(netnsprov.Options{}).Create(context.Background(), s)
	if err != nil {
		tb.Fatalf("create cluster: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Delete(context.Background()); err != nil {
			tb.Errorf("delete cluster: %v", err)
		}
	})
	return c
}

// load starts the server and a load agent sending to its service.
func load(tb testing.TB, c clusters.Cluster) *agentctl.Agent {
	tb.Helper()
	topo := c.Topology()
	start := func(pod string, args ...string) *agentctl.Agent {
		a, err := agentctl.Start(context.Background(), c, clusters.ProcSpec{
			Target: clusters.Target{Pod: pod}, Name: args[1] + " in pod " + pod, Args: args, Container: clusters.AppContainer,
		})
		if err != nil {
			tb.Fatalf("start %s: %v", args[1], err)
		}
		tb.Cleanup(a.Stop)
		return a
	}
	svc, _ := topo.Service("far")
	start(svc.Pods[0], agent.ServerOptions{Listen: fmt.Sprintf(":%d", serverPort), ResponseBytes: 64 << 10}.Args()...)
	target := "http://" + netip.AddrPortFrom(svc.VIP, servicePort).String() + "/"
	return start("client-0", agent.LoadOptions{Targets: []string{target}, Connections: 2, Workers: agent.DefaultWorkers, Timeout: 2 * time.Second}.Args()...)
}

// send sends n requests and fails tb unless every one succeeds; it returns
// the connections the load agent opened so far.
func send(tb testing.TB, l *agentctl.Agent, n int) datapaths.Traffic {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var failed []string
	got := 0
	_, err := l.Attack(ctx, wire.Attack{Tag: "check", Count: n}, func(s []results.Sample) {
		for _, x := range s {
			got++
			if x.Error != "" || x.Code != 200 {
				failed = append(failed, fmt.Sprintf("code %d: %s", x.Code, x.Error))
			}
		}
	})
	if err != nil {
		tb.Fatalf("attack: %v", err)
	}
	if len(failed) > 0 || got != n {
		tb.Fatalf("%d of %d requests failed (first: %v)", len(failed), got, failed[:min(1, len(failed))])
	}
	st, err := l.Stats(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return datapaths.Traffic{Connections: st["connections"]}
}

// nodeHandle opens netlink in node's namespace.
func nodeHandle(tb testing.TB, n clusters.Node) *netlink.Handle {
	tb.Helper()
	ns, err := netns.GetFromPath(n.NetNS)
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

// tunnelRules returns node's routing rules into Table.
func tunnelRules(tb testing.TB, h *netlink.Handle) []netlink.Rule {
	tb.Helper()
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		tb.Fatal(err)
	}
	var out []netlink.Rule
	for _, r := range rules {
		if r.Table == Table {
			out = append(out, r)
		}
	}
	return out
}

// TestEncrypted runs none and nodeproxy over the tunnels: requests across
// nodes succeed, Verify passes with WireGuard packets and no plaintext TCP
// on the fabric, and fails with ErrNotInPath once a node routes around its
// device. Uninstall leaves no device, rule, key file or fabric table, and
// the host's network is untouched.
func TestEncrypted(t *testing.T) {
	for _, k := range []datapaths.Kind{none.Kind, nodeproxy.Kind} {
		t.Run(k.Name, func(t *testing.T) {
			testutil.Privileged(t)
			host := testutil.HostNetwork(t)
			ctx := context.Background()
			dp, err := Encrypt(k).New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn, Encryption: Name})
			if err != nil {
				t.Fatal(err)
			}
			c := newCluster(t, dp)
			e := unwrap(dp)
			if err := dp.Install(ctx, c); err != nil {
				t.Fatalf("Install: %v", err)
			}
			uninstalled := false
			t.Cleanup(func() {
				if !uninstalled {
					dp.Uninstall(ctx)
				}
			})
			if impl := e.Encryption().Implementation; impl != Userspace && impl != Kernel {
				t.Errorf("implementation %q, want %s or %s", impl, Userspace, Kernel)
			}
			topo := c.Topology()
			h0 := nodeHandle(t, topo.Nodes[0])
			if _, err := h0.LinkByName(Device); err != nil {
				t.Errorf("no device %s on node n0: %v", Device, err)
			}
			if comps := dp.(datapaths.Costed).Components(); len(comps) < len(topo.Nodes) {
				t.Errorf("components %v, want the node agents' among them", comps)
			}

			l := load(t, c)
			traffic := send(t, l, 50)
			if err := dp.Verify(ctx, traffic); err != nil {
				t.Fatalf("Verify over the tunnels: %v", err)
			}
			counts, err := e.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if counts.PlaintextTCP != 0 || counts.WireGuard == 0 {
				t.Errorf("fabric counted %+v, want wireguard packets and no plaintext TCP", counts)
			}
			states, err := e.states(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for node, s := range states {
				if s.TxBytes == 0 || s.RxBytes == 0 || s.Handshakes == 0 {
					t.Errorf("node %s: device state %+v, want bytes both ways after a handshake", node, s)
				}
			}

			// Route around the tunnel on n0: its packets to n1 leave by
			// the main table, in the clear.
			for _, r := range tunnelRules(t, h0) {
				if err := h0.RuleDel(&r); err != nil {
					t.Fatal(err)
				}
			}
			traffic = send(t, l, 20)
			if err := dp.Verify(ctx, traffic); !errors.Is(err, datapaths.ErrNotInPath) || !strings.Contains(err.Error(), "plaintext") {
				t.Errorf("Verify with a route around the tunnel = %v, want %v for plaintext", err, datapaths.ErrNotInPath)
			}

			uninstalled = true
			if err := dp.Uninstall(ctx); err != nil {
				t.Fatalf("Uninstall: %v", err)
			}
			for _, n := range topo.Nodes {
				h := nodeHandle(t, n)
				if _, err := h.LinkByName(Device); err == nil {
					t.Errorf("node %s: device %s left after Uninstall", n.Name, Device)
				}
				if r := tunnelRules(t, h); len(r) > 0 {
					t.Errorf("node %s: rules %v left after Uninstall", n.Name, r)
				}
				routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: Table}, netlink.RT_FILTER_TABLE)
				if err != nil || len(routes) > 0 {
					t.Errorf("node %s: routes %v (%v) left in table %d", n.Name, routes, err, Table)
				}
			}
			if _, err := os.Stat(filepath.Dir(e.dir)); !os.IsNotExist(err) {
				t.Errorf("state directory of %s after Uninstall: %v, want it gone", e.dir, err)
			}
			if _, err := e.fabric.Counts(); err == nil {
				t.Errorf("fabric table %s left after Uninstall", e.fabric.Table)
			}
			if got := testutil.HostNetwork(t); got != host {
				t.Errorf("host network changed:\nbefore:\n%s\nafter:\n%s", host, got)
			}
		})
	}
}

// TestNoTUN checks that a node with neither WireGuard in its kernel nor a
// TUN device makes Install fail with ErrUnsupported, naming the device,
// and leaves nothing behind.
func TestNoTUN(t *testing.T) {
	testutil.Privileged(t)
	dp, err := Encrypt(none.Kind).New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn, Encryption: Name})
	if err != nil {
		t.Fatal(err)
	}
	e := unwrap(dp)
	e.tun = "/nonexistent/meshbench-tun"
	c := newCluster(t, dp)
	if kernelWireGuard(t, c.Topology().Nodes[0]) {
		testutil.Skip(t, "the kernel has WireGuard, so the TUN device is not needed")
	}
	err = dp.Install(context.Background(), c)
	if !errors.Is(err, datapaths.ErrUnsupported) {
		t.Fatalf("Install without a TUN device = %v, want %v", err, datapaths.ErrUnsupported)
	}
	if err := dp.Uninstall(context.Background()); err != nil {
		t.Errorf("Uninstall after a failed Install: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(e.dir)); !os.IsNotExist(err) {
		t.Errorf("state directory of %s after Uninstall: %v, want it gone", e.dir, err)
	}
}

// kernelWireGuard reports whether node's kernel can add a WireGuard device.
func kernelWireGuard(tb testing.TB, n clusters.Node) bool {
	tb.Helper()
	h := nodeHandle(tb, n)
	err := h.LinkAdd(&netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: "mbwgprobe"}})
	if err == nil {
		h.LinkDel(&netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: "mbwgprobe"}})
	}
	return err == nil
}

// unwrap returns the Encrypted under dp's optional abilities.
func unwrap(dp datapaths.Datapath) *Encrypted {
	switch w := dp.(type) {
	case *Encrypted:
		return w
	case withCounters:
		return w.Encrypted
	case withBPF:
		return w.Encrypted
	case withBoth:
		return w.Encrypted
	}
	panic(fmt.Sprintf("not an encrypted datapath: %T", dp))
}

func TestEncryptRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts scenarios.DatapathOptions
	}{
		{"another encryption", scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn, Encryption: "ipsec"}},
		{"proxy off", scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOff, Encryption: Name}},
	}
	k := Encrypt(datapaths.Kind{Datapath: scenarios.Datapath{Name: "plain"}, New: func(scenarios.DatapathOptions) (datapaths.Datapath, error) {
		return unwrappedNone{}, nil
	}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if dp, err := k.New(tt.opts); err == nil {
				t.Errorf("New(%+v) = %T, want an error", tt.opts, dp)
			}
		})
	}
	if !k.Encryption {
		t.Error("Encrypt did not mark the kind as taking encryption")
	}
	dp, err := k.New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn})
	if err != nil || dp != (unwrappedNone{}) {
		t.Errorf("New without encryption = %T, %v; want the inner datapath itself", dp, err)
	}
}

type unwrappedNone struct{ datapaths.Datapath }

func TestWrapKeepsAbilities(t *testing.T) {
	type counted struct {
		datapaths.Datapath
		datapaths.Counted
	}
	type bpf struct {
		datapaths.Datapath
		datapaths.BPFCosted
	}
	type both struct {
		datapaths.Datapath
		datapaths.Counted
		datapaths.BPFCosted
	}
	for _, inner := range []datapaths.Datapath{unwrappedNone{}, counted{}, bpf{}, both{}} {
		dp := wrap(&Encrypted{Inner: inner})
		_, wantC := inner.(datapaths.Counted)
		_, wantB := inner.(datapaths.BPFCosted)
		_, gotC := dp.(datapaths.Counted)
		_, gotB := dp.(datapaths.BPFCosted)
		if gotC != wantC || gotB != wantB {
			t.Errorf("wrapping %T: counted %v, bpf %v; want %v, %v", inner, gotC, gotB, wantC, wantB)
		}
	}
}

// sharedNodes is a cluster whose topology has no fabric namespace, as on
// kube and kind, where nodes are shared with other traffic.
type sharedNodes struct {
	clusters.Cluster
	topo *clusters.Topology
}

func (s sharedNodes) Topology() *clusters.Topology { return s.topo }

// nodeTable reports whether node has the inet nftables table name.
func nodeTable(tb testing.TB, n clusters.Node, name string) bool {
	tb.Helper()
	ns, err := os.Open(n.NetNS)
	if err != nil {
		tb.Fatal(err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns.Fd())))
	if err != nil {
		tb.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		tb.Fatal(err)
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == name })
}

// TestEncryptedSharedNodes runs none and nodeproxy over the tunnels as on
// a provider without a fabric namespace (kube): the devices, tables and
// counters carry the run's names, the node agents count on their nodes'
// fabric-facing devices, Verify fails with ErrNotInPath once a node routes
// around its device, and RemoveRun and Uninstall leave nothing.
func TestEncryptedSharedNodes(t *testing.T) {
	for _, k := range []datapaths.Kind{none.Kind, nodeproxy.Kind} {
		t.Run(k.Name, func(t *testing.T) {
			testutil.Privileged(t)
			ctx := context.Background()
			dp, err := Encrypt(k).New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn, Encryption: Name})
			if err != nil {
				t.Fatal(err)
			}
			c := newCluster(t, dp)
			topo := *c.Topology()
			topo.FabricNetNS = ""
			e := unwrap(dp)
			if err := dp.Install(ctx, sharedNodes{c, &topo}); err != nil {
				t.Fatalf("Install: %v", err)
			}
			t.Cleanup(func() { dp.Uninstall(ctx) })
			names := NamesOf(topo.RunID)
			h0 := nodeHandle(t, topo.Nodes[0])
			if _, err := h0.LinkByName(names.Device); err != nil {
				t.Errorf("no device %s on node n0: %v", names.Device, err)
			}
			if e.fabric.NetNS != "" {
				t.Errorf("fabric table installed in %s, want none without a fabric namespace", e.fabric.NetNS)
			}
			routes, err := h0.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: names.Table}, netlink.RT_FILTER_TABLE)
			if err != nil {
				t.Fatal(err)
			}
			far, _ := topo.Pod("far-0")
			if len(routes) != 1 || routes[0].Dst.String() != netip.PrefixFrom(far.IP, 32).String() {
				t.Errorf("routes of table %d on n0 %v, want the far pod's /32 alone", names.Table, routes)
			}

			l := load(t, c)
			traffic := send(t, l, 50)
			if err := dp.Verify(ctx, traffic); err != nil {
				t.Fatalf("Verify over the tunnels: %v", err)
			}
			counts, err := e.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if counts.PlaintextTCP != 0 || counts.WireGuard == 0 {
				t.Errorf("nodes counted %+v, want wireguard packets and no plaintext TCP", counts)
			}

			// Around the tunnel on n0: requests and, for nodeproxy,
			// its tunnels to n1 leave n0 in the clear.
			rules := rulesTo(t, h0, names)
			if want := 3; len(rules) != want {
				t.Errorf("n0 has %d rules into the run's tables, want %d (all, tunnel port in, out)", len(rules), want)
			}
			for _, r := range rules {
				if err := h0.RuleDel(&r); err != nil {
					t.Fatal(err)
				}
			}
			traffic = send(t, l, 20)
			if err := dp.Verify(ctx, traffic); !errors.Is(err, datapaths.ErrNotInPath) || !strings.Contains(err.Error(), "plaintext") {
				t.Errorf("Verify with a route around the tunnel = %v, want %v for plaintext", err, datapaths.ErrNotInPath)
			}

			// What a killed agent leaves, RemoveRun removes.
			n1 := topo.Nodes[1]
			if err := nsenter.Do(n1.NetNS, func() error { return RemoveRun(topo.RunID) }); err != nil {
				t.Fatalf("RemoveRun: %v", err)
			}
			h1 := nodeHandle(t, n1)
			if r := rulesTo(t, h1, names); len(r) > 0 {
				t.Errorf("node n1: rules %v left after RemoveRun", r)
			}
			if _, err := h1.LinkByName(names.Device); err == nil {
				t.Errorf("node n1: device %s left after RemoveRun", names.Device)
			}

			if err := dp.Uninstall(ctx); err != nil {
				t.Fatalf("Uninstall: %v", err)
			}
			for _, n := range topo.Nodes {
				h := nodeHandle(t, n)
				if _, err := h.LinkByName(names.Device); err == nil {
					t.Errorf("node %s: device %s left after Uninstall", n.Name, names.Device)
				}
				if r := rulesTo(t, h, names); len(r) > 0 {
					t.Errorf("node %s: rules %v left after Uninstall", n.Name, r)
				}
				if nodeTable(t, n, e.table()) {
					t.Errorf("node %s: nftables table %s left after Uninstall", n.Name, e.table())
				}
			}
		})
	}
}

// rulesTo returns the routing rules into names' tables, failing tb if they
// cannot be listed.
func rulesTo(tb testing.TB, h *netlink.Handle, names Names) []netlink.Rule {
	tb.Helper()
	rules, err := names.Rules(h)
	if err != nil {
		tb.Fatal(err)
	}
	return rules
}

// TestAlreadyEncrypted checks that on shared nodes a node whose CNI has a
// WireGuard device of its own makes Install fail with ErrUnsupported,
// naming the device, and leaves no device of the run's on any node.
func TestAlreadyEncrypted(t *testing.T) {
	testutil.Privileged(t)
	ctx := context.Background()
	dp, err := Encrypt(none.Kind).New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn, Encryption: Name})
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, dp)
	topo := *c.Topology()
	topo.FabricNetNS = ""
	// A stand-in for Cilium's device: the name is what counts.
	if err := nodeHandle(t, topo.Nodes[1]).LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "cilium_wg0"}}); err != nil {
		t.Fatal(err)
	}
	err = dp.Install(ctx, sharedNodes{c, &topo})
	if !errors.Is(err, datapaths.ErrUnsupported) || !strings.Contains(err.Error(), "cilium_wg0") {
		t.Errorf("Install beside cilium_wg0 = %v, want %v naming the device", err, datapaths.ErrUnsupported)
	}
	if err := dp.Uninstall(ctx); err != nil {
		t.Errorf("Uninstall after a refused Install: %v", err)
	}
	for _, n := range topo.Nodes {
		if _, err := nodeHandle(t, n).LinkByName(NamesOf(topo.RunID).Device); err == nil {
			t.Errorf("node %s: device left after a refused Install", n.Name)
		}
	}
}
