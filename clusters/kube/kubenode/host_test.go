package kubenode

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/hostfs"
	"github.com/meshbench/meshbench/internal/testutil"
)

func TestPodCgroupRoot(t *testing.T) {
	tests := []struct{ container, want string }{
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-2.scope", "/kubepods.slice"},
		{"kubepods/besteffort/pod1/2", "kubepods"},
		// kind: the kubelet's --cgroup-root /kubelet, systemd driver.
		{"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod1.slice/cri-containerd-2.scope", "/kubelet.slice/kubelet-kubepods.slice"},
		// hack/testcluster: cgroupfs driver below a cgroup root of its own.
		{"/process_api/e1/mbtc/mbtc-node1/kubepods/besteffort/pod1/2", "/process_api/e1/mbtc/mbtc-node1/kubepods"},
		{"/system.slice/containerd.service", ""},
		// A kubelet on cgroup v1 only: the process's v2 cgroup is the root.
		{"/", ""},
	}
	for _, tt := range tests {
		if got := PodCgroupRoot(tt.container); got != tt.want {
			t.Errorf("PodCgroupRoot(%q) = %q, want %q", tt.container, got, tt.want)
		}
	}
}

// A run's host processes live beside the pod cgroup root, never below it.
func TestHostCgroup(t *testing.T) {
	tests := []struct{ root, want string }{
		{"/kubepods.slice", "/meshbench-r1"},
		{"/kubelet.slice/kubelet-kubepods.slice", "/kubelet.slice/meshbench-r1"},
		{"/process_api/e1/mbtc/mbtc-node1/kubepods", "/process_api/e1/mbtc/mbtc-node1/meshbench-r1"},
	}
	for _, tt := range tests {
		got := HostCgroup(tt.root, "r1")
		if got != tt.want || strings.HasPrefix(got, tt.root+"/") {
			t.Errorf("HostCgroup(%q) = %q, want %q, outside the pods'", tt.root, got, tt.want)
		}
	}
}

func TestHostOptions(t *testing.T) {
	o := HostOptions{RunID: "r1", Name: "host-0", Command: []string{"agent", "load", "-x", "--", "y"}}
	args := o.Args()
	if args[0] != "agent" || args[1] != HostRole {
		t.Fatalf("Args() = %q, want \"agent\" %q first", args, HostRole)
	}
	got, err := parseHostOptions(args[2:], io.Discard)
	if err != nil || !reflect.DeepEqual(got, o) {
		t.Errorf("parse(%q) = %+v, %v; want %+v", args, got, err, o)
	}
	for _, bad := range []HostOptions{
		{Name: "host-0", Command: []string{"agent"}},
		{RunID: "r1", Name: "../x", Command: []string{"agent"}},
		{RunID: "r1", Name: "a/b", Command: []string{"agent"}},
		{RunID: "r1", Name: "host-0"},
	} {
		if _, err := parseHostOptions(bad.Args()[2:], io.Discard); err == nil {
			t.Errorf("parse(%q) succeeded, want an error", bad.Args())
		}
	}
}

// testCgroup creates a cgroup v2 for the test below this process's own
// and removes it at the end.
func testCgroup(tb testing.TB) (cgroups hostfs.Cgroups, rel string) {
	tb.Helper()
	testutil.Privileged(tb)
	cgroups, err := hostfs.DetectCgroupsIn("/")
	if err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		tb.Fatal(err)
	}
	own, _ := hostfs.ParseProcCgroup(string(b))
	rel = filepath.Join(own, "mbtest-host-"+strings.ReplaceAll(tb.Name(), "/", "-"))
	if err := os.Mkdir(cgroups.Dir(rel), 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := removeCgroup(cgroups.Dir(rel)); err != nil {
			tb.Error(err)
		}
	})
	return cgroups, rel
}

// The child runs in the cgroup it is given from its first instruction,
// with the role's streams.
func TestRunInCgroup(t *testing.T) {
	cgroups, rel := testCgroup(t)
	dir := cgroups.Dir(filepath.Join(rel, "host-0"))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := runIn(context.Background(), dir, "/bin/cat", []string{"/proc/self/cgroup"}, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got, _ := hostfs.ParseProcCgroup(out.String()); got != filepath.Join(rel, "host-0") {
		t.Errorf("the child's cgroup v2 is %q, want %q", got, filepath.Join(rel, "host-0"))
	}
	if err := removeCgroup(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s after remove: %v, want gone", dir, err)
	}
}

// Removing a host cgroup kills what still runs in it, as the pause role
// does after a host role was killed; the end of ctx ends the child too.
func TestRemoveCgroupKills(t *testing.T) {
	cgroups, rel := testCgroup(t)
	for _, viaCtx := range []bool{false, true} {
		dir := cgroups.Dir(filepath.Join(rel, "host-1"))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- runIn(ctx, dir, "/bin/sleep", []string{"300"}, strings.NewReader(""), io.Discard, io.Discard)
		}()
		waitForProcs(t, dir)
		if viaCtx {
			cancel()
		}
		if err := removeCgroup(dir); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Logf("ctx %t: runIn returned %v", viaCtx, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the child still runs after its cgroup was removed")
		}
		cancel()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cgroup %s after remove: %v, want gone", dir, err)
		}
	}
}

// What the pause role does after a host role was killed: the run's host
// cgroups lose their processes and are removed, with the run's; a run
// without any is no error.
func TestRemoveRunCgroup(t *testing.T) {
	cgroups, rel := testCgroup(t)
	run := cgroups.Dir(filepath.Join(rel, "meshbench-r1"))
	var dones []chan error
	for _, name := range []string{"host-0", "host-1"} {
		dir := filepath.Join(run, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			done <- runIn(context.Background(), dir, "/bin/sleep", []string{"300"}, strings.NewReader(""), io.Discard, io.Discard)
		}()
		dones = append(dones, done)
		waitForProcs(t, dir)
	}
	if err := removeRunCgroup(run); err != nil {
		t.Fatal(err)
	}
	for _, done := range dones {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a host process still runs after its run's cgroup was removed")
		}
	}
	if _, err := os.Stat(run); !os.IsNotExist(err) {
		t.Errorf("run cgroup %s after remove: %v, want gone", run, err)
	}
	if err := removeRunCgroup(run); err != nil {
		t.Errorf("remove a run cgroup that is gone: %v", err)
	}
}

// waitForProcs waits until a process is in the cgroup dir.
func waitForProcs(tb testing.TB, dir string) {
	tb.Helper()
	for range 250 {
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if len(strings.TrimSpace(string(b))) > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("no process showed up in cgroup %s", dir)
}
