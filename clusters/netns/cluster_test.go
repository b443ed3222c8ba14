package netns

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
)

// newCluster creates a cluster for spec (with a fresh run id) and deletes it
// when the test ends.
func newCluster(tb testing.TB, spec clusters.Spec) *Cluster {
	tb.Helper()
	testutil.Privileged(tb)
	spec.RunID = clusters.NewRunID()
	c, err := New(Options{}).Create(context.Background(), spec)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Delete(context.Background()); err != nil {
			tb.Errorf("Delete: %v", err)
		}
	})
	return c.(*Cluster)
}

// serve listens on addr inside the namespace at nsPath and answers every
// connection with name.
func serve(tb testing.TB, nsPath, addr, name string) {
	tb.Helper()
	var ln net.Listener
	err := nsenter.Do(nsPath, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		tb.Fatalf("listen on %s in %s: %v", addr, nsPath, err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte(name + "\n"))
			conn.Close()
		}
	}()
}

// ask connects to addr from inside the namespace at nsPath and returns the
// line the server sends.
func ask(nsPath, addr string) (string, error) {
	var conn net.Conn
	err := nsenter.Do(nsPath, func() (err error) {
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

func hostPort(a netip.Addr, port int) string { return net.JoinHostPort(a.String(), strconv.Itoa(port)) }

func TestConnectivity(t *testing.T) {
	c := newCluster(t, smallSpec(""))
	topo := c.Topology()
	for _, p := range topo.Pods {
		if p.Service == "server" {
			serve(t, p.NetNS, hostPort(p.IP, 8080), p.Name)
		}
	}
	pod := func(name string) clusters.Pod {
		p, ok := topo.Pod(name)
		if !ok {
			t.Fatalf("no pod %s in topology", name)
		}
		return p
	}
	client := pod("client-0")
	n1, _ := topo.Node("n1")

	tests := []struct {
		name, from, to, want string
	}{
		{"same node", client.NetNS, hostPort(pod("server-0").IP, 8080), "server-0"},
		{"cross node", client.NetNS, hostPort(pod("server-1").IP, 8080), "server-1"},
		{"cross node to third", client.NetNS, hostPort(pod("server-2").IP, 8080), "server-2"},
		{"node to remote pod", n1.NetNS, hostPort(pod("server-2").IP, 8080), "server-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ask(tt.from, tt.to)
			if err != nil {
				t.Fatalf("connect to %s: %v", tt.to, err)
			}
			if got != tt.want {
				t.Errorf("answered by %q, want %q", got, tt.want)
			}
		})
	}

	svc, _ := topo.Service("server")
	for _, from := range []struct{ name, ns string }{{"from pod", client.NetNS}, {"from node", n1.NetNS}} {
		t.Run("service "+from.name, func(t *testing.T) {
			seen := map[string]int{}
			for range 30 {
				got, err := ask(from.ns, hostPort(svc.VIP, svc.Port))
				if err != nil {
					t.Fatalf("connect to service %s: %v", svc.VIP, err)
				}
				seen[got]++
			}
			for _, p := range svc.Pods {
				if seen[p] == 0 {
					t.Errorf("30 connections to the service reached %v, never %s", seen, p)
				}
			}
		})
	}
}

func TestStart(t *testing.T) {
	c := newCluster(t, smallSpec(""))
	topo := c.Topology()
	pod, _ := topo.Pod("server-1")
	node, _ := topo.Node("n2")
	tests := []struct {
		name       string
		target     clusters.Target
		container  string // ProcSpec.Container
		wantNS     string
		wantCgroup string
	}{
		{"pod", clusters.Target{Pod: pod.Name}, "", pod.NetNS, pod.Cgroup},
		{"node", clusters.Target{Node: node.Name}, "", node.NetNS, node.Cgroup + "/system"},
		{"pod container", clusters.Target{Pod: pod.Name}, "sidecar", pod.NetNS, pod.Cgroup + "/sidecar"},
		{"node container", clusters.Target{Node: node.Name}, "nodeproxy", node.NetNS, node.Cgroup + "/nodeproxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.Start(context.Background(), clusters.ProcSpec{
				Target: tt.target, Name: "info", Args: []string{"agent", "info"}, Container: tt.container,
			})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			lines := readLines(p.Stdout())
			info := map[string]string{}
			for _, l := range lines {
				k, v, _ := strings.Cut(l, " ")
				info[k] = v
			}
			if got, want := info["netns"], "net:["+strconv.FormatUint(inode(t, tt.wantNS), 10)+"]"; got != want {
				t.Errorf("agent netns %s, want %s (%s)", got, want, tt.wantNS)
			}
			if got, want := info["runid"], topo.RunID; got != want {
				t.Errorf("agent %s=%q, want %q", RunIDEnv, got, want)
			}
			if !slices.Contains(lines, "0::/"+tt.wantCgroup) {
				t.Errorf("agent cgroups %q, want v2 %s", lines, tt.wantCgroup)
			}
			if c.cg.memory != "" && !hasCgroupSuffix(lines, ":memory:", "/"+tt.wantCgroup) {
				t.Errorf("agent cgroups %q, want v1 memory group ending in %s", lines, tt.wantCgroup)
			}
			if mem, err := c.cg.Memory(tt.wantCgroup); err != nil || mem == 0 {
				t.Errorf("Memory(%s) = %d, %v; want > 0", tt.wantCgroup, mem, err)
			}
			if cpu, err := c.cg.CPU(tt.wantCgroup); err != nil || cpu == 0 {
				t.Errorf("CPU(%s) = %s, %v; want > 0", tt.wantCgroup, cpu, err)
			}
			if err := p.Stdin().(interface{ Close() error }).Close(); err != nil {
				t.Fatalf("close stdin: %v", err)
			}
			if err := p.Wait(); err != nil {
				t.Errorf("Wait: %v", err)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	c := newCluster(t, smallSpec(""))
	tests := []struct {
		name string
		spec clusters.ProcSpec
	}{
		{"no target", clusters.ProcSpec{Name: "x"}},
		{"both targets", clusters.ProcSpec{Name: "x", Target: clusters.Target{Pod: "client-0", Node: "n0"}}},
		{"unknown pod", clusters.ProcSpec{Name: "x", Target: clusters.Target{Pod: "nope"}}},
		{"container path", clusters.ProcSpec{Name: "x", Target: clusters.Target{Pod: "client-0"}, Container: "a/b"}},
		{"container escaping pod", clusters.ProcSpec{Name: "x", Target: clusters.Target{Pod: "client-0"}, Container: ".."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := c.Start(context.Background(), tt.spec); err == nil {
				p.Stop(0)
				t.Fatal("Start succeeded, want an error")
			}
		})
	}
}

func TestProcessExit(t *testing.T) {
	c := newCluster(t, smallSpec(""))
	start := func(t *testing.T, mode string) clusters.Process {
		t.Helper()
		p, err := c.Start(context.Background(), clusters.ProcSpec{
			Target: clusters.Target{Pod: "client-0"}, Name: mode, Args: []string{"agent", mode},
		})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return p
	}
	t.Run("wait error has stderr", func(t *testing.T) {
		err := start(t, "fail").Wait()
		if err == nil || !strings.Contains(err.Error(), "boom: the agent failed") || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("Wait = %v, want exit status 3 and the stderr tail", err)
		}
	})
	t.Run("stop terminates", func(t *testing.T) {
		p := start(t, "hang")
		if err := p.Stop(5 * time.Second); err != nil {
			t.Errorf("Stop = %v, want nil", err)
		}
	})
	t.Run("stop kills after grace", func(t *testing.T) {
		p := start(t, "stubborn")
		if got, _ := bufio.NewReader(p.Stdout()).ReadString('\n'); got != "ready\n" {
			t.Fatalf("agent said %q, want ready", got)
		}
		err := p.Stop(100 * time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("Stop = %v, want an error saying it was killed", err)
		}
	})
}

func TestCreateErrors(t *testing.T) {
	testutil.Privileged(t)
	spec := smallSpec(clusters.NewRunID())
	bad := spec
	bad.Services = append([]clusters.ServiceSpec{}, spec.Services...)
	bad.Services[1].PodNodes = []int{0, 7}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		spec clusters.Spec
	}{
		{"bad spec", context.Background(), bad},
		{"cancelled", ctx, spec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := New(Options{}).Create(tt.ctx, tt.spec); err == nil {
				c.Delete(context.Background())
				t.Fatal("Create succeeded, want an error")
			}
			assertNoLeftovers(t, tt.spec.RunID)
		})
	}
}

// TestCreateCancelledMidway cancels Create while it makes pods: it must
// fail and leave nothing.
func TestCreateCancelledMidway(t *testing.T) {
	testutil.Privileged(t)
	spec := seedMesh(clusters.NewRunID())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		probe := netnsDir + "/" + nsName(spec.RunID, "p5")
		for ctx.Err() == nil {
			if exists(probe) {
				cancel()
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	c, err := New(Options{}).Create(ctx, spec)
	if err == nil {
		c.Delete(context.Background())
		t.Fatal("Create succeeded, want it cancelled")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Create = %v, want context.Canceled", err)
	}
	assertNoLeftovers(t, spec.RunID)
}

func TestCreateRunIDInUse(t *testing.T) {
	c := newCluster(t, smallSpec(""))
	spec := smallSpec(c.topo.RunID)
	if _, err := New(Options{}).Create(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Create with a live run's id = %v, want in use", err)
	}
	// The live cluster must be untouched.
	if _, err := ask(c.topo.Pods[0].NetNS, "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("pod namespace after refused Create: %v, want connection refused", err)
	}
}

// TestCheck expects the test machine to be able to run clusters when root,
// and a kernel that cannot to be the user's to fix.
func TestCheck(t *testing.T) {
	var want error
	if os.Geteuid() != 0 {
		want = clusters.ErrNotRoot
	}
	if err := New(Options{}).Check(context.Background(), clusters.Need{Nodes: 3}); !errors.Is(err, want) {
		t.Fatalf("Check = %v, want %v", err, want)
	}
	err := unsupported(errors.New("veth: operation not supported"))
	if !errors.Is(err, ErrUnsupportedKernel) || !errors.Is(err, clusters.ErrConfig) || !strings.HasSuffix(err.Error(), ": veth: operation not supported") {
		t.Errorf("unsupported kernel: got %q, want it to wrap ErrUnsupportedKernel and clusters.ErrConfig and say what is missing", err)
	}
}

// TestAgentOutlivesRetiredThreads retires OS threads the way a goroutine
// exiting while locked does: agents must not die with them (Pdeathsig
// follows the forking thread).
func TestAgentOutlivesRetiredThreads(t *testing.T) {
	c := newCluster(t, smallSpec(""))
	p, err := c.Start(context.Background(), clusters.ProcSpec{
		Target: clusters.Target{Pod: "client-0"}, Name: "hang", Args: []string{"agent", "hang"},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for range 50 {
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
		}()
		<-locked
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case <-p.(*process).done:
		t.Fatalf("agent died with a retired thread: %v", p.Wait())
	default:
	}
}
