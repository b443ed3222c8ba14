package redirect_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/meshbench/meshbench/bpf/redirect"
	"github.com/meshbench/meshbench/internal/bpftest"
	"github.com/meshbench/meshbench/internal/testutil"
)

var (
	vip       = netip.MustParseAddrPort("10.96.0.10:80")
	nodeProxy = netip.MustParseAddrPort("127.0.0.1:15001")
)

func load(tb testing.TB, cfg redirect.Config) *redirect.Datapath {
	tb.Helper()
	testutil.Privileged(tb)
	d, err := redirect.Load(cfg)
	if err != nil {
		tb.Fatalf("Load(%+v): %v", cfg, err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return d
}

func expectLine(tb testing.TB, c *bpftest.Child, want string) {
	tb.Helper()
	got, err := c.Line()
	if err != nil || got != want {
		tb.Fatalf("child said %q (err %v), want %q", got, err, want)
	}
}

func counters(tb testing.TB, d *redirect.Datapath) redirect.Counters {
	tb.Helper()
	c, err := d.Counters()
	if err != nil {
		tb.Fatalf("Counters: %v", err)
	}
	return c
}

func TestSteersToProxy(t *testing.T) {
	d := load(t, redirect.Config{Mode: redirect.ModeProxy, NodeProxy: nodeProxy})
	ns := bpftest.NewNetns(t)
	podCgroup, proxyCgroup := bpftest.NewCgroup(t), bpftest.NewCgroup(t)
	if err := d.AddService(vip, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachCgroup(podCgroup); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachProxyCgroup(proxyCgroup); err != nil {
		t.Fatal(err)
	}

	proxy := bpftest.StartChild(t, "proxy", proxyCgroup, ns, nodeProxy.String())
	expectLine(t, proxy, "ready")
	const rounds = 20
	app := bpftest.StartChild(t, "app", podCgroup, ns, vip.String(), strconv.Itoa(rounds))
	expectLine(t, app, "done")
	if err := app.Wait(); err != nil {
		t.Fatalf("app: %v", err)
	}
	expectLine(t, proxy, "origdst "+vip.String())
	if err := proxy.Wait(); err != nil {
		t.Fatalf("proxy: %v", err)
	}

	var bytes uint64
	for i := range rounds {
		bytes += uint64(len(message(i)))
	}
	want := redirect.Counters{
		Steered:  1,
		Sockets:  2,
		Messages: 2 * rounds, // each ping and its echo, one sendmsg each
		Bytes:    2 * bytes,
		OrigDst:  1,
	}
	if got := counters(t, d); got != want {
		t.Errorf("Counters() = %+v, want %+v", got, want)
	}
}

func TestNoProxyBalancesToBackend(t *testing.T) {
	d := load(t, redirect.Config{Mode: redirect.ModeNoProxy})
	ns := bpftest.NewNetns(t)
	podCgroup := bpftest.NewCgroup(t)
	backend := testutil.ListenEcho(t, ns.Path, "tcp4", "127.0.0.1:0").Addr().(*net.TCPAddr).AddrPort()
	if err := d.AddService(vip, []netip.AddrPort{backend}); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachCgroup(podCgroup); err != nil {
		t.Fatal(err)
	}

	app := bpftest.StartChild(t, "app", podCgroup, ns, vip.String(), "5")
	expectLine(t, app, "done")
	if err := app.Wait(); err != nil {
		t.Fatalf("app: %v", err)
	}
	if got, want := counters(t, d), (redirect.Counters{Balanced: 1}); got != want {
		t.Errorf("Counters() = %+v, want %+v", got, want)
	}

	t.Run("process outside the cgroup is untouched", func(t *testing.T) {
		err := ns.Do(func() error {
			conn, err := net.DialTimeout("tcp4", vip.String(), time.Second)
			if err == nil {
				conn.Close()
			}
			return err
		})
		if err == nil {
			t.Errorf("dial %s from outside the pod cgroup reached a backend, want no route", vip)
		}
		if got, want := counters(t, d), (redirect.Counters{Balanced: 1}); got != want {
			t.Errorf("Counters() = %+v, want %+v", got, want)
		}
	})
}

func TestAttachRefuses(t *testing.T) {
	d := load(t, redirect.Config{Mode: redirect.ModeProxy, NodeProxy: nodeProxy})
	pod := bpftest.NewCgroup(t)
	if err := d.AttachCgroup(pod); err != nil {
		t.Fatal(err)
	}
	inner := filepath.Join(pod, "inner")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(inner) })
	noProxy := load(t, redirect.Config{Mode: redirect.ModeNoProxy})

	tests := []struct {
		name   string
		attach func(string) error
		path   string
		is     error
	}{
		{"cgroup2 root", d.AttachCgroup, bpftest.Cgroup2Mount(t), redirect.ErrRootCgroup},
		{"cgroup2 root via a relative path", d.AttachCgroup, bpftest.Cgroup2Mount(t) + "/.", redirect.ErrRootCgroup},
		{"cgroup2 root for the proxy", d.AttachProxyCgroup, bpftest.Cgroup2Mount(t), redirect.ErrRootCgroup},
		{"not a cgroup", d.AttachCgroup, t.TempDir(), nil},
		{"missing directory", d.AttachCgroup, filepath.Join(pod, "missing"), nil},
		{"same pod cgroup twice", d.AttachCgroup, pod, nil},
		{"proxy cgroup inside a pod cgroup", d.AttachProxyCgroup, inner, nil},
		{"proxy cgroup with the proxy off", noProxy.AttachProxyCgroup, bpftest.NewCgroup(t), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.attach(tt.path)
			if err == nil {
				t.Fatalf("attach %s: got no error, want a refusal", tt.path)
			}
			t.Logf("refused: %v", err)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("attach %s: got %v, want %v", tt.path, err, tt.is)
			}
		})
	}
}

// TestPeerRedirect builds client -- node -- pod namespaces, kind style, and
// checks that packets for the pod arriving on the node's uplink are
// delivered into the pod by bpf_redirect_peer when they belong to a
// connection connect4 balanced, and left to the node's stack otherwise.
func TestPeerRedirect(t *testing.T) {
	d := load(t, redirect.Config{Mode: redirect.ModeNoProxy})
	client, node, pod := bpftest.NewNetns(t), bpftest.NewNetns(t), bpftest.NewNetns(t)
	_, uplink := bpftest.Veth(t, client, "eth0", netip.MustParsePrefix("10.201.0.1/24"),
		node, "uplink", netip.MustParsePrefix("10.201.0.2/24"))
	hostVeth, _ := bpftest.Veth(t, node, "veth-pod", netip.MustParsePrefix("10.202.0.1/24"),
		pod, "eth0", netip.MustParsePrefix("10.202.0.10/24"))
	bpftest.Route(t, client, netip.MustParsePrefix("10.202.0.0/24"), netip.MustParseAddr("10.201.0.2"))
	bpftest.Route(t, pod, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("10.202.0.1"))
	// Replies are not pod-bound and take the node's routing.
	bpftest.Sysctl(t, node, "net/ipv4/ip_forward", "1")

	if err := d.AddPod(netip.MustParseAddr("10.202.0.10"), hostVeth, 0); err != nil {
		t.Fatal(err)
	}
	if err := node.Do(func() error { return d.AttachTC(uplink) }); err != nil {
		t.Fatal(err)
	}
	server := testutil.ListenEcho(t, pod.Path, "tcp4", "10.202.0.10:8080").Addr().(*net.TCPAddr).AddrPort()
	if err := d.AddService(vip, []netip.AddrPort{server}); err != nil {
		t.Fatal(err)
	}
	podCgroup := bpftest.NewCgroup(t)
	if err := d.AttachCgroup(podCgroup); err != nil {
		t.Fatal(err)
	}

	// First a connection connect4 did not balance: the stack's.
	if err := client.Do(func() error { return pingPong(server.String(), 5) }); err != nil {
		t.Fatalf("client outside the mesh -> pod: %v", err)
	}
	if got := counters(t, d).PeerRedirected; got != 0 {
		t.Errorf("PeerRedirected = %d after a connection from outside the mesh, want 0", got)
	}

	app := bpftest.StartChild(t, "app", podCgroup, client, vip.String(), "5")
	expectLine(t, app, "done")
	if err := app.Wait(); err != nil {
		t.Fatalf("app: %v", err)
	}
	// SYN, the handshake's ACK and 5 requests had to arrive before the
	// last echo; the FIN and delayed ACKs may still be on their way.
	got := counters(t, d).PeerRedirected
	t.Logf("%d packets peer-redirected", got)
	if got < 7 {
		t.Errorf("PeerRedirected = %d, want >= 7", got)
	}
}

// pingPong dials addr from the calling thread's namespace and exchanges
// rounds of echoed messages.
func pingPong(addr string, rounds int) error {
	conn, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	buf := make([]byte, 64)
	for i := range rounds {
		msg := message(i)
		if _, err := conn.Write([]byte(msg)); err != nil {
			return err
		}
		n, err := conn.Read(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) != msg {
			return errors.New("echo mismatch: " + string(buf[:n]))
		}
	}
	return nil
}

func TestMemoryBytes(t *testing.T) {
	tests := []struct {
		name string
		cfg  redirect.Config
	}{
		{"proxy", redirect.Config{Mode: redirect.ModeProxy, NodeProxy: nodeProxy}},
		{"no proxy", redirect.Config{Mode: redirect.ModeNoProxy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := load(t, tt.cfg)
			got, err := d.MemoryBytes()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes of maps and programs", tt.name, got)
			// The maps alone declare well over 64 KiB of entries;
			// tens of MiB would mean double counting.
			if got < 64<<10 || got > 64<<20 {
				t.Errorf("MemoryBytes() = %d, want between 64 KiB and 64 MiB", got)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  redirect.Config
		ok   bool
	}{
		{"proxy", redirect.Config{Mode: redirect.ModeProxy, NodeProxy: nodeProxy}, true},
		{"proxy without address", redirect.Config{Mode: redirect.ModeProxy}, false},
		{"proxy without port", redirect.Config{Mode: redirect.ModeProxy, NodeProxy: netip.MustParseAddrPort("10.0.0.1:0")}, false},
		{"IPv6 proxy", redirect.Config{Mode: redirect.ModeProxy, NodeProxy: netip.MustParseAddrPort("[::1]:15001")}, false},
		{"no proxy", redirect.Config{Mode: redirect.ModeNoProxy}, true},
		{"no proxy with an address", redirect.Config{Mode: redirect.ModeNoProxy, NodeProxy: nodeProxy}, false},
		{"unknown mode", redirect.Config{Mode: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if got := err == nil; got != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSupported(t *testing.T) {
	testutil.Privileged(t)
	for _, mode := range []redirect.Mode{redirect.ModeProxy, redirect.ModeNoProxy} {
		t.Run(mode.String(), func(t *testing.T) {
			// bpf_redirect_peer, needed in both modes, came last: 5.10.
			testutil.SkipIfNotSupported(t, redirect.Supported(mode), "5.10")
		})
	}
}
