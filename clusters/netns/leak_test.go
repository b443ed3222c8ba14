package netns

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/testutil"
)

// TestDeleteLeavesNothing checks that a cluster with running processes
// leaves nothing behind, and that the host's network is the same before and
// after (read through netlink, never changed).
func TestDeleteLeavesNothing(t *testing.T) {
	testutil.Privileged(t)
	before := testutil.HostNetwork(t)
	spec := smallSpec(clusters.NewRunID())
	c, err := New(Options{}).Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	var procs []clusters.Process
	for _, tg := range []clusters.Target{{Pod: "server-0"}, {Pod: "other-1"}, {Node: "n1"}} {
		p, err := c.Start(context.Background(), clusters.ProcSpec{Target: tg, Name: "hang", Args: []string{"agent", "hang"}})
		if err != nil {
			c.Delete(context.Background())
			t.Fatalf("Start: %v", err)
		}
		procs = append(procs, p)
	}
	if l, err := Leftovers(spec.RunID); err != nil || len(l.Processes) != len(procs) {
		t.Errorf("Leftovers of a live run: %+v, %v; want %d processes", l, err, len(procs))
	}
	_, inodes, err := find(spec.RunID)
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	for i := range 2 { // Delete is idempotent
		if err := c.Delete(context.Background()); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	assertNoLeftovers(t, spec.RunID)
	for _, p := range procs {
		if err := unix.Kill(p.Pid(), 0); !errors.Is(err, unix.ESRCH) {
			t.Errorf("process %d after Delete: kill(0) = %v, want ESRCH (reaped)", p.Pid(), err)
		}
	}
	if held := heldNamespaces(t, inodes); len(held) > 0 {
		t.Errorf("after Delete this process still holds run namespaces: %v", held)
	}
	if after := testutil.HostNetwork(t); after != before {
		t.Errorf("host network changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestCleanupKilledRun kills a runner with SIGKILL and checks that Cleanup
// removes everything it left.
func TestCleanupKilledRun(t *testing.T) {
	testutil.Privileged(t)
	runID := clusters.NewRunID()
	cmd := exec.Command(os.Args[0], "runner", runID)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start runner: %v", err)
	}
	p := New(Options{StateRoot: t.TempDir()})
	t.Cleanup(func() { _, _ = p.Cleanup(context.Background(), runID) })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("runner said %q, want ready", line)
	}
	cmd.Process.Kill()
	cmd.Wait()

	// The agent dies with the runner (Pdeathsig); the two orphans live on.
	var left Removed
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if left, err = Leftovers(runID); err != nil {
			t.Fatalf("Leftovers: %v", err)
		}
		if len(left.Processes) <= 2 || time.Now().After(deadline) {
			break
		}
	}
	spec := smallSpec(runID)
	pods := 0
	for _, s := range spec.Services {
		pods += len(s.PodNodes)
	}
	if got, want := len(left.Namespaces), 1+spec.Nodes+pods; got != want {
		t.Errorf("killed run left %d namespaces, want %d", got, want)
	}
	cg, _ := detectCgroups()
	if got, want := len(left.Cgroups), len(cg.bases()); got != want {
		t.Errorf("killed run left cgroups %q, want %d", left.Cgroups, want)
	}
	if got := len(left.Processes); got != 2 {
		t.Errorf("killed run left processes %+v, want the 2 orphans", left.Processes)
	}

	// The run's state directory goes too; another run's, whose id starts
	// with this run's, stays.
	mine, other := filepath.Join(p.opts.StateRoot, runID), filepath.Join(p.opts.StateRoot, runID+"ff0")
	for _, dir := range []string{filepath.Join(mine, "sidecar"), other} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}

	got, err := p.Cleanup(context.Background(), runID)
	if err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if want := append(left.lines(), "removed state "+mine); !slices.Equal(got, want) {
		t.Errorf("Cleanup removed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	assertNoLeftovers(t, runID)
	if exists(mine) || !exists(other) {
		t.Errorf("after Cleanup: state %s exists: %t, another run's %s exists: %t; want only the other run's", mine, exists(mine), other, exists(other))
	}
	if again, err := p.Cleanup(context.Background(), runID); err != nil || len(again) > 0 {
		t.Errorf("second Cleanup: removed %q, %v; want nothing", again, err)
	}
}

// TestClusterIDs checks which cluster each leftover's name belongs to: the
// names a cluster makes, and no others.
func TestClusterIDs(t *testing.T) {
	r := Removed{
		Namespaces: []string{
			"mb-0a1b2c3d0-fabric", "mb-0a1b2c3d0-n2", "mb-0a1b2c3d12-p40", "mb-abc-p0",
			"mb-zz-other", "mb-0a1b2c3d7", "xmb-0a1b2c3d8-n0", "mb-0a1b2c3d9-n",
		},
		Cgroups: []string{
			"/sys/fs/cgroup/meshbench-0a1b2c3d1", "/sys/fs/cgroup/memory/user.slice/meshbench-abc",
			"/sys/fs/cgroup/meshbench-", "/sys/fs/cgroup/meshbench-0a1b2c3d2-x", "/sys/fs/cgroup/meshbenchx",
		},
	}
	want := []string{"0a1b2c3d0", "0a1b2c3d1", "0a1b2c3d12", "abc"}
	if got := clusterIDs(r); !slices.Equal(got, want) {
		t.Errorf("clusterIDs = %q, want %q", got, want)
	}
}

// TestCleanupRefusesBadRunID checks that Cleanup takes only run ids
// NewRunID mints, before it looks at the host: "" or a prefix would match
// other runs' clusters.
func TestCleanupRefusesBadRunID(t *testing.T) {
	for _, id := range []string{"", "0a", "0a1b2c3d0", "../../etc"} {
		if got, err := New(Options{}).Cleanup(context.Background(), id); err == nil || len(got) > 0 {
			t.Errorf("Cleanup(%q) = %q, %v; want an error and nothing removed", id, got, err)
		}
	}
}

// heldNamespaces returns this process's descriptors and threads that
// refer to a namespace with one of the inodes: each keeps the namespace,
// and its links, alive after its name is gone.
func heldNamespaces(tb testing.TB, inodes map[uint64]bool) []string {
	tb.Helper()
	var nsfs unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &nsfs); err != nil {
		tb.Fatal(err)
	}
	var held []string
	for _, pattern := range []string{"/proc/self/fd/*", "/proc/self/task/*/ns/net"} {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			tb.Fatal(err)
		}
		for _, p := range paths {
			var st unix.Stat_t
			if unix.Stat(p, &st) == nil && st.Dev == nsfs.Dev && inodes[st.Ino] {
				held = append(held, p)
			}
		}
	}
	return held
}

func assertNoLeftovers(tb testing.TB, runID string) {
	tb.Helper()
	l, err := Leftovers(runID)
	if err != nil {
		tb.Fatalf("Leftovers: %v", err)
	}
	if !l.Empty() {
		tb.Errorf("run %s left %+v", runID, l)
	}
}

func inode(tb testing.TB, path string) uint64 {
	tb.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		tb.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func hasCgroupSuffix(lines []string, controller, suffix string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, controller) && strings.HasSuffix(l, suffix) })
}
