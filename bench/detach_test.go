package bench

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/internal/hostfs"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/scenarios"
)

// TestDetachedHookFailsFast detaches the client pod's connect4 hook after
// the eBPF datapath is installed: the case must then fail within seconds,
// by the attack's deadline or by verify's counts, instead of hanging on
// requests to a service address nothing answers, or passing with traffic
// that went around the datapath.
func TestDetachedHookFailsFast(t *testing.T) {
	testutil.Privileged(t)
	c := testCase(ebpf.Name, scenarios.SameNode, scenarios.DatapathOptions{Mode: "l4"}, 1)
	r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: clusters.NewRunID()})
	cr := &caseRun{c: c}
	ctx := context.Background()
	defer r.teardown(ctx, cr)
	if err := r.setup(ctx, cr); err != nil {
		t.Fatal(err)
	}
	client, _ := cr.cluster.Topology().Pod("client-0")
	if n := detachConnect4(t, client.Cgroup); n == 0 {
		t.Fatalf("found no connect4 link on the client pod's cgroup %s", client.Cgroup)
	}
	start := time.Now()
	_, _, err := r.attack(ctx, cr, "warmup", c.Warmup)
	if err == nil {
		err = r.verify(ctx, cr)
	}
	took := time.Since(start)
	if err == nil {
		t.Fatal("warm-up and verify passed with the client's connect4 hook detached")
	}
	if limit := 15 * time.Second; took > limit {
		t.Errorf("the case failed after %v, want within %v: %v", took, limit, err)
	}
	t.Logf("failed after %v: %v", took.Round(time.Millisecond), err)
}

// detachConnect4 detaches every connect4 link on the cgroup (v2, relative
// to the mount) and returns how many it detached.
func detachConnect4(tb testing.TB, cgroup string) int {
	tb.Helper()
	cg, err := hostfs.DetectCgroups()
	if err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(cg.Dir(cgroup))
	if err != nil {
		tb.Fatal(err)
	}
	id := fi.Sys().(*syscall.Stat_t).Ino
	n := 0
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			tb.Fatalf("link %d info: %v", it.ID, err)
		}
		c := info.Cgroup()
		if c == nil || c.CgroupId != id || uint32(c.AttachType) != uint32(cebpf.AttachCGroupInet4Connect) {
			continue
		}
		if err := it.Link.Detach(); err != nil && !errors.Is(err, os.ErrClosed) {
			tb.Fatalf("detach link %d: %v", it.ID, err)
		}
		n++
	}
	if err := it.Err(); err != nil {
		tb.Fatalf("list BPF links: %v", err)
	}
	return n
}
