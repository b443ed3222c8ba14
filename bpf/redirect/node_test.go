package redirect_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/meshbench/meshbench/bpf/redirect"
	"github.com/meshbench/meshbench/internal/bpftest"
)

// childCgroup makes a cgroup below parent, removed when the test ends
// (before parent, which was registered first).
func childCgroup(tb testing.TB, parent, name string) string {
	tb.Helper()
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.Remove(dir) })
	return dir
}

// TestSteersAtTheNode attaches at a node cgroup and checks that an app in
// a cgroup below it, which nobody announced, is steered to the proxy as an
// announced pod's is, and counted per source.
func TestSteersAtTheNode(t *testing.T) {
	d := load(t, redirect.Config{Mode: redirect.ModeProxy, NodeProxy: nodeProxy})
	ns := bpftest.NewNetns(t)
	node := bpftest.NewCgroup(t)
	proxyCgroup, app := childCgroup(t, node, "proxy"), childCgroup(t, node, "unannounced")
	if err := d.AddService(vip, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachNodeCgroup(node, proxyCgroup); err != nil {
		t.Fatal(err)
	}
	proxy := bpftest.StartChild(t, "proxy", proxyCgroup, ns, nodeProxy.String())
	expectLine(t, proxy, "ready")
	const rounds = 5
	c := bpftest.StartChild(t, "app", app, ns, vip.String(), strconv.Itoa(rounds))
	expectLine(t, c, "done")
	if err := c.Wait(); err != nil {
		t.Fatalf("app: %v", err)
	}
	expectLine(t, proxy, "origdst "+vip.String())
	if err := proxy.Wait(); err != nil {
		t.Fatalf("proxy: %v", err)
	}
	if got := counters(t, d); got.Steered != 1 || got.Sockets != 2 || got.OrigDst != 1 || got.Messages != 2*rounds {
		t.Errorf("Counters() = %+v, want one connection steered, both ends in the sockhash (sockops once each), its original destination answered, %d messages", got, 2*rounds)
	}
	src, err := d.SourceConnections()
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, n := range src {
		total += n
	}
	if len(src) != 1 || total != 1 {
		t.Errorf("SourceConnections() = %v, want one source with one connection", src)
	}
}

func TestAttachNodeRefuses(t *testing.T) {
	node := bpftest.NewCgroup(t)
	tests := []struct {
		name        string
		node, proxy func() string
		is          error
	}{
		{"cgroup2 root", func() string { return bpftest.Cgroup2Mount(t) }, func() string { return childCgroup(t, node, "p1") }, redirect.ErrRootCgroup},
		{"proxy outside the node", func() string { return node }, func() string { return bpftest.NewCgroup(t) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := load(t, redirect.Config{Mode: redirect.ModeProxy, NodeProxy: nodeProxy})
			err := d.AttachNodeCgroup(tt.node(), tt.proxy())
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("AttachNodeCgroup = %v, want a refusal (%v)", err, tt.is)
			}
			t.Logf("refused: %v", err)
		})
	}
}
