package ebpf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/bpf/redirect"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/internal/bpftest"
	"github.com/meshbench/meshbench/internal/hostfs"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// The ports of the test services: the VIP port and the pods' port.
const (
	servicePort = 80
	serverPort  = 8080
)

// spec is a 2-node cluster: a client on n0, a server service with its pod
// on the same node (near) and one with its pod on the other node (far).
func spec(runID string) clusters.Spec {
	port, target := servicePort, serverPort
	return clusters.Spec{
		RunID:       runID,
		Nodes:       2,
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
		Services: []clusters.ServiceSpec{
			{Name: "client", Role: "client", Port: port, TargetPort: target, PodNodes: []int{0}},
			{Name: "near", Role: "server", Port: port, TargetPort: target, PodNodes: []int{0}},
			{Name: "far", Role: "server", Port: port, TargetPort: target, PodNodes: []int{1}},
		},
	}
}

func TestDatapath(t *testing.T) {
	tests := []struct {
		name string
		opts scenarios.DatapathOptions
		// vethsUnnamed hides the pods' host veths from the datapath, as
		// the kube provider may: the agents find them from the pods, and
		// peer redirects (checked with the proxy off) prove them right.
		vethsUnnamed bool
	}{
		{"proxy l4", scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn}, false},
		{"proxy l7 mtls", scenarios.DatapathOptions{Mode: scenarios.ModeL7, MTLS: true, Proxy: scenarios.ProxyOn}, false},
		{"proxy off", scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOff}, false},
		{"proxy off, veths unnamed", scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOff}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.Privileged(t)
			ctx := context.Background()
			host := newHostEcho(t)
			before := bpftest.ProgramIDs(t)
			c := newCluster(t)
			if tt.vethsUnnamed {
				c = withTopology(c, func(topo *clusters.Topology) {
					for i := range topo.Pods {
						topo.Pods[i].Veth = ""
					}
				})
			}
			topo := c.Topology()
			dp, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			uninstall := uninstaller(t, dp)
			if err := dp.Install(ctx, c); err != nil {
				t.Fatalf("Install: %v", err)
			}
			proxyOn := tt.opts.Proxy == scenarios.ProxyOn

			runCgroups := cgroupIDs(t, cgroupDir(t, path.Dir(topo.Nodes[0].Cgroup)))
			objs := findRunObjects(t, before, runCgroups)
			wantProgs, wantLinks := wantObjects(topo, proxyOn)
			if len(objs.progs) != wantProgs || len(objs.links) != wantLinks {
				t.Errorf("found %d programs and %d links of the datapath, want %d and %d", len(objs.progs), len(objs.links), wantProgs, wantLinks)
			}
			if len(objs.foreign) > 0 {
				t.Errorf("links %v attach programs to cgroups outside the run", objs.foreign)
			}

			servers, load := deploy(t, c)
			if err := dp.Verify(ctx, datapaths.Traffic{}); !errors.Is(err, datapaths.ErrNotInPath) {
				t.Errorf("Verify before any request = %v, want %v", err, datapaths.ErrNotInPath)
			}
			host.ping(t, "during the run")
			lat := attack(t, load, 200)
			for name, s := range servers {
				st, err := s.Stats(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st["requests"] == 0 {
					t.Errorf("server %s answered no request", name)
				}
			}
			st, err := load.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := dp.Verify(ctx, datapaths.Traffic{Connections: st["connections"]}); err != nil {
				t.Errorf("Verify: %v", err)
			}
			// A connection the datapath did not see fails Verify.
			if err := dp.Verify(ctx, datapaths.Traffic{Connections: st["connections"] + 1}); !errors.Is(err, datapaths.ErrNotInPath) {
				t.Errorf("Verify with one connection more than the datapath saw = %v, want %v", err, datapaths.ErrNotInPath)
			}
			e := dp.(*ebpfPath)
			cnt, err := e.counters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("counters: %+v; closed loop p50 %v, p99 %v", cnt, lat[len(lat)/2], lat[len(lat)*99/100])
			checkCounters(t, cnt, proxyOn)
			pc, err := e.PathCounters(ctx)
			if err != nil || pc.Redirects != cnt.Messages+cnt.PeerRedirected || pc.NetfilterHits != 0 {
				t.Errorf("PathCounters() = %+v, %v; want %d redirects, no netfilter hits", pc, err, cnt.Messages+cnt.PeerRedirected)
			}
			checkCost(t, e, topo, proxyOn)

			uninstall()
			objs.waitGone(t)
			host.ping(t, "after Uninstall")
			if err := c.Delete(ctx); err != nil {
				t.Errorf("Delete: %v", err)
			}
		})
	}
}

// TestConnectionsBeforeInstall opens the load agent's connections through
// the node's service NAT before the datapath is installed: they must keep
// working after it, their replies taking the node's stack, which reverses
// the NAT, instead of being delivered straight into the client pod with the
// server pod's address, which the client resets.
func TestConnectionsBeforeInstall(t *testing.T) {
	for _, proxy := range []string{scenarios.ProxyOn, scenarios.ProxyOff} {
		t.Run("proxy "+proxy, func(t *testing.T) {
			testutil.Privileged(t)
			ctx := context.Background()
			c := newCluster(t)
			_, load := deploy(t, c)
			attack(t, load, 20)
			before, err := load.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			dp, err := New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: proxy})
			if err != nil {
				t.Fatal(err)
			}
			uninstaller(t, dp)
			if err := dp.Install(ctx, c); err != nil {
				t.Fatalf("Install: %v", err)
			}
			attack(t, load, 200)
			after, err := load.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// The requests went over the connections opened before.
			if after["connections"] != before["connections"] {
				t.Errorf("load agent opened %d connections after the install, want none (%d before)", after["connections"]-before["connections"], before["connections"])
			}
			cnt, err := dp.(*ebpfPath).counters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if cnt.PeerRedirected != 0 {
				t.Errorf("tc peer-redirected %d packets of connections the datapath did not open, want 0", cnt.PeerRedirected)
			}
		})
	}
}

// wantObjects counts the programs and links Install makes: per node, with
// the proxy, connect4 and sockops on each pod cgroup, sockops and
// getsockopt on the proxy cgroup, tcx on the uplink and each pod veth (sk_msg
// hangs off the sockhash without a link); without it, connect4 and sockops
// per pod and the same tcx.
func wantObjects(topo *clusters.Topology, proxyOn bool) (progs, links int) {
	for _, n := range topo.Nodes {
		pods := len(topo.PodsOn(n.Name))
		if proxyOn {
			progs += 5
			links += 2*pods + 2 + 1 + pods
		} else {
			progs += 3
			links += 2*pods + 1 + pods
		}
	}
	return progs, links
}

func checkCounters(t *testing.T, c redirect.Counters, proxyOn bool) {
	t.Helper()
	if proxyOn {
		// Every steered connection is answered once, and both of its
		// sockets join the sockhash, as do both ends of each proxy's
		// connections to its node's pods (n0's to near, n1's to far).
		if c.Steered == 0 || c.Messages == 0 || c.OrigDst != c.Steered || c.LocalSockets == 0 ||
			c.Sockets != 2*c.Steered+c.LocalSockets || c.Balanced != 0 {
			t.Errorf("counters %+v: want steered > 0, messages > 0, one SO_ORIGINAL_DST answer and two sockets per steered connection, local sockets > 0, none balanced", c)
		}
		return
	}
	// The near server's packets and replies arrive on the pods' veths, and
	// the far server's replies on n0's uplink: the connections n0's
	// connect4 balanced are peer-redirected.
	if c.Balanced == 0 || c.PeerRedirected == 0 || c.Steered+c.Messages+c.Sockets != 0 {
		t.Errorf("counters %+v: want balanced > 0, peer-redirected > 0, nothing steered", c)
	}
}

func checkCost(t *testing.T, e *ebpfPath, topo *clusters.Topology, proxyOn bool) {
	t.Helper()
	mem, err := e.BPFMemoryBytes(t.Context())
	if err != nil {
		t.Fatalf("BPFMemoryBytes: %v", err)
	}
	for _, n := range topo.Nodes {
		if mem[n.Name] == 0 {
			t.Errorf("BPFMemoryBytes()[%s] = 0, want > 0 (all: %v)", n.Name, mem)
		}
	}
	var nodes []string
	for _, comp := range e.Components() {
		if path.Base(comp.Cgroup) != ProxyContainer {
			t.Errorf("component cgroup %s, want one named %s", comp.Cgroup, ProxyContainer)
		}
		nodes = append(nodes, comp.Node)
	}
	if want := len(topo.Nodes); proxyOn && len(nodes) != want || !proxyOn && len(nodes) != 0 {
		t.Errorf("components on nodes %v, want one per node with the proxy on, none off", nodes)
	}
	t.Logf("BPF memory per node: %v", mem)
}

func newCluster(tb testing.TB) clusters.Cluster {
	tb.Helper()
	c, err := netns.New(netns.Options{}).Create(context.Background(), spec(clusters.NewRunID()))
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

// uninstaller registers dp's Uninstall at cleanup and returns a function
// that runs it now instead, once.
func uninstaller(tb testing.TB, dp datapaths.Datapath) func() {
	tb.Helper()
	done := false
	run := func() {
		if done {
			return
		}
		done = true
		if err := dp.Uninstall(context.Background()); err != nil {
			tb.Errorf("Uninstall: %v", err)
		}
	}
	tb.Cleanup(run)
	return run
}

// deploy starts the workloads the way the runner does: an echo server in
// each server pod and a load agent in the client pod aimed at every server
// VIP, each in its pod's app cgroup.
func deploy(tb testing.TB, c clusters.Cluster) (servers map[string]*agentctl.Agent, load *agentctl.Agent) {
	tb.Helper()
	topo := c.Topology()
	start := func(pod clusters.Pod, args ...string) *agentctl.Agent {
		a, err := agentctl.Start(context.Background(), c, clusters.ProcSpec{
			Target: clusters.Target{Pod: pod.Name}, Name: args[1] + " in pod " + pod.Name,
			Args: args, Container: clusters.AppContainer,
		})
		if err != nil {
			tb.Fatalf("start %s: %v", args[1], err)
		}
		tb.Cleanup(a.Stop)
		return a
	}
	servers = map[string]*agentctl.Agent{}
	var targets []string
	for _, s := range topo.Services {
		if s.Role != "server" {
			continue
		}
		targets = append(targets, "http://"+netip.AddrPortFrom(s.VIP, uint16(s.Port)).String()+"/")
		pod, _ := topo.Pod(s.Pods[0])
		servers[s.Name] = start(pod, agent.ServerOptions{Listen: fmt.Sprintf(":%d", serverPort), ResponseBytes: 1024}.Args()...)
	}
	client, _ := topo.Pod("client-0")
	load = start(client, agent.LoadOptions{Targets: targets, Connections: 4, Workers: agent.DefaultWorkers, Timeout: 2 * time.Second}.Args()...)
	return servers, load
}

// attack sends n requests one after another and returns their sorted
// latencies; any failed request fails tb. A stalled datapath fails it within
// a minute.
func attack(tb testing.TB, load *agentctl.Agent, n int) []time.Duration {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var lat []time.Duration
	var failed []string
	_, err := load.Attack(ctx, wire.Attack{Tag: "check", Count: n}, func(s []results.Sample) {
		for _, x := range s {
			if x.Error != "" || x.Code != 200 {
				failed = append(failed, fmt.Sprintf("code %d: %s", x.Code, x.Error))
			}
			lat = append(lat, x.Latency)
		}
	})
	if err != nil {
		tb.Fatalf("attack: %v", err)
	}
	if len(failed) > 0 || len(lat) != n {
		tb.Fatalf("%d of %d requests failed (first: %v)", len(failed), len(lat), failed[:min(1, len(failed))])
	}
	slices.Sort(lat)
	return lat
}

// hostEcho is an echo server on loopback in the test's own (the host's)
// network namespace and a connection to it opened before the datapath is
// installed: host connections must not notice the datapath.
type hostEcho struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
}

func newHostEcho(tb testing.TB) *hostEcho {
	tb.Helper()
	ln := testutil.ListenEcho(tb, "", "tcp4", "127.0.0.1:0")
	var err error
	h := &hostEcho{addr: ln.Addr().String()}
	if h.conn, err = net.DialTimeout("tcp4", h.addr, time.Second); err != nil {
		tb.Fatalf("dial loopback: %v", err)
	}
	tb.Cleanup(func() { h.conn.Close() })
	h.br = bufio.NewReader(h.conn)
	h.ping(tb, "before Install")
	return h
}

// ping exchanges a line on the long-lived connection and on a new one.
func (h *hostEcho) ping(tb testing.TB, when string) {
	tb.Helper()
	fresh, err := net.DialTimeout("tcp4", h.addr, time.Second)
	if err != nil {
		tb.Fatalf("host connection %s: dial %s: %v", when, h.addr, err)
	}
	defer fresh.Close()
	for _, c := range []struct {
		conn net.Conn
		br   *bufio.Reader
	}{{h.conn, h.br}, {fresh, bufio.NewReader(fresh)}} {
		if err := echoLine(c.conn, c.br, when); err != nil {
			tb.Fatalf("host connection %s: %v", when, err)
		}
	}
}

func echoLine(conn net.Conn, br *bufio.Reader, msg string) error {
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(conn, msg); err != nil {
		return err
	}
	got, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if got != msg+"\n" {
		return errors.New("echo " + got + ", want " + msg)
	}
	return nil
}

// clusterWith is a cluster whose datapaths see another topology.
type clusterWith struct {
	clusters.Cluster
	topo *clusters.Topology
}

func (c clusterWith) Topology() *clusters.Topology { return c.topo }

// withTopology returns c with a copy of its topology that edit changed.
func withTopology(c clusters.Cluster, edit func(*clusters.Topology)) clusters.Cluster {
	topo := *c.Topology()
	topo.Nodes = slices.Clone(topo.Nodes)
	topo.Pods = slices.Clone(topo.Pods)
	for i := range topo.Nodes {
		topo.Nodes[i].Containers = maps.Clone(topo.Nodes[i].Containers)
	}
	edit(&topo)
	return clusterWith{c, &topo}
}

// cgroupDir returns the directory of a cgroup v2 path of the cluster.
func cgroupDir(tb testing.TB, rel string) string {
	tb.Helper()
	cg, err := hostfs.DetectCgroups()
	if err != nil {
		tb.Fatal(err)
	}
	return cg.Dir(rel)
}

// TestUninstallAfterPartialInstall gives the last node's agent a proxy
// cgroup that does not exist: Install fails after starting the proxies and
// the other nodes' agents; the failed agent frees what it loaded, and
// Uninstall must remove all the rest.
func TestUninstallAfterPartialInstall(t *testing.T) {
	testutil.Privileged(t)
	ctx := context.Background()
	before := bpftest.ProgramIDs(t)
	c := newCluster(t)
	topo := c.Topology()
	last := topo.Nodes[len(topo.Nodes)-1]
	broken := withTopology(c, func(topo *clusters.Topology) {
		n := &topo.Nodes[len(topo.Nodes)-1]
		if n.Containers == nil {
			n.Containers = map[string]string{}
		}
		n.Containers[ProxyContainer] = n.ContainerCgroup(ProxyContainer) + "-missing"
	})
	dp, err := New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn})
	if err != nil {
		t.Fatal(err)
	}
	uninstall := uninstaller(t, dp)
	err = dp.Install(ctx, broken)
	if err == nil || !strings.Contains(err.Error(), ProxyContainer+"-missing") {
		t.Fatalf("Install with a missing proxy cgroup = %v, want an error naming it", err)
	}
	t.Logf("Install: %v", err)

	// Each agent loads 5 programs; the failed one's are gone once the
	// kernel has freed them.
	want := 5 * (len(topo.Nodes) - 1)
	var objs runObjects
	deadline := time.Now().Add(5 * time.Second)
	for {
		objs = findRunObjects(t, before, cgroupIDs(t, cgroupDir(t, path.Dir(last.Cgroup))))
		if len(objs.progs) == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(objs.progs) != want {
		t.Errorf("found %d programs after the failed Install, want %d", len(objs.progs), want)
	}
	e := dp.(*ebpfPath)
	proxies, agents := e.m.Proxies, e.agents
	if len(proxies) != len(topo.Nodes) || len(agents) != len(topo.Nodes)-1 {
		t.Errorf("%d proxies and %d agents running after the failed Install, want %d and %d",
			len(proxies), len(agents), len(topo.Nodes), len(topo.Nodes)-1)
	}
	uninstall()
	objs.waitGone(t)
	for _, p := range proxies {
		if p.Agent.Alive() == nil {
			t.Errorf("proxy on node %s still runs after Uninstall", p.Node)
		}
	}
	for _, a := range agents {
		if a.agent.Alive() == nil {
			t.Errorf("ebpf agent on node %s still runs after Uninstall", a.node)
		}
	}
}

// TestHostVeth finds each pod's host veth from the pod's namespace in its
// node's namespace, where the agent runs, and refuses elsewhere: the index
// the pod's interface names is the peer's in the node's namespace only.
func TestHostVeth(t *testing.T) {
	testutil.Privileged(t)
	topo := newCluster(t).Topology()
	for _, p := range topo.Pods {
		node, _ := topo.Node(p.Node)
		pc := podConfig{Name: p.Name, IP: p.IP, NetNS: p.NetNS, Cgroup: p.Cgroup, Iface: p.PodVeth}
		var got string
		err := nsenter.Do(node.NetNS, func() error {
			l, err := hostVeth(pc)
			if err == nil {
				got = l.Attrs().Name
			}
			return err
		})
		if err != nil || got != p.Veth {
			t.Errorf("hostVeth(%s) in node %s = %q, %v; want %q", p.Name, node.Name, got, err, p.Veth)
		}
		if l, err := hostVeth(pc); err == nil {
			t.Errorf("hostVeth(%s) in the host's namespace = %s, want an error", p.Name, l.Attrs().Name)
		}
	}
}
