package costagent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/hostfs"
	"github.com/meshbench/meshbench/internal/testutil"
)

// childEnv makes the test binary run child instead of the tests.
const childEnv = "COSTAGENT_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		child()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// allocBytes is what the child allocates and touches on "alloc".
const allocBytes = 64 << 20

// burnFor is how much CPU time the child spins for on "burn".
const burnFor = 300 * time.Millisecond

// child answers "alloc" and "burn" lines with "ok" until stdin closes.
func child() {
	var mem []byte
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "alloc":
			mem = make([]byte, allocBytes)
			for i := 0; i < len(mem); i += os.Getpagesize() {
				mem[i] = 1
			}
		case "burn":
			// By CPU time, not wall time: the machine may be busy.
			x := 0
			for start := cpuTime(); cpuTime()-start < burnFor; {
				for i := range 1000 {
					x += i
				}
			}
			runtime.KeepAlive(x)
		}
		fmt.Println("ok")
	}
	runtime.KeepAlive(mem)
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childProc is a running child and its control lines.
type childProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(tb testing.TB) *childProc {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			tb.Errorf("child: %v", err)
		}
	})
	return &childProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
}

func (c *childProc) do(tb testing.TB, what string) {
	tb.Helper()
	if _, err := fmt.Fprintln(c.in, what); err != nil {
		tb.Fatal(err)
	}
	if !c.out.Scan() || c.out.Text() != "ok" {
		tb.Fatalf("child %s: %q, %v", what, c.out.Text(), c.out.Err())
	}
}

// mkCgroup creates dir (a cgroup directory) and removes it when tb ends.
func mkCgroup(tb testing.TB, dir string) {
	tb.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			tb.Errorf("remove cgroup: %v", err)
		}
	})
}

// enter moves pid into the cgroup directory dir, of either version.
func enter(tb testing.TB, dir string, pid int) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		tb.Fatalf("move process into %s: %v", dir, err)
	}
}

// TestSampleProcess measures a process that allocates and burns CPU in a
// cgroup the test creates: in cgroup v2, and in v1 memory and cpuacct
// groups nested under the test's own (as the netns provider nests its
// pods') where the node has those hierarchies.
func TestSampleProcess(t *testing.T) {
	testutil.Privileged(t)
	cg, err := hostfs.DetectCgroups()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("meshbench-costtest-%d", os.Getpid())
	proc, empty := base+"/proc", base+"/empty"
	ch := startChild(t) // registered first: its cleanup ends the child last
	mkCgroup(t, cg.Dir(base))
	if ctls, _ := controllers(cg.Dir(base)); len(ctls) > 0 {
		// Where memory and cpu are v2 controllers, hand them to proc.
		var enable []string
		for _, c := range []string{"memory", "cpu"} {
			if slices.Contains(ctls, c) {
				enable = append(enable, "+"+c)
			}
		}
		if err := os.WriteFile(filepath.Join(cg.Dir(base), "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0); err != nil {
			t.Fatal(err)
		}
	}
	mkCgroup(t, cg.Dir(proc))
	mkCgroup(t, cg.Dir(empty))
	enter(t, cg.Dir(proc), ch.cmd.Process.Pid)
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	ownV2, own := hostfs.ParseProcCgroup(string(self))
	for _, h := range []struct{ mount, ctl string }{{cg.Memory, "memory"}, {cg.CPUAcct, "cpuacct"}} {
		if h.mount == "" {
			continue
		}
		dir := filepath.Join(h.mount, own[h.ctl], base)
		mkCgroup(t, dir)
		mkCgroup(t, filepath.Join(dir, "proc"))
		enter(t, filepath.Join(dir, "proc"), ch.cmd.Process.Pid)
		// Back to the test's group before the cgroups' removal.
		t.Cleanup(func() { enter(t, filepath.Join(h.mount, own[h.ctl]), ch.cmd.Process.Pid) })
	}
	t.Cleanup(func() { enter(t, cg.Dir(ownV2), ch.cmd.Process.Pid) })
	ch.do(t, "alloc")

	s := &session{cg: cg}
	defer s.halt()
	args := startArgs{Groups: map[string][]string{"proc": {proc}, "empty": {empty}}}
	ctx := context.Background()
	began := time.Now()
	if err := s.start(ctx, args); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := s.start(ctx, args); err == nil {
		t.Error("second start: want an error while sampling")
	}
	ch.do(t, "burn")
	time.Sleep(2 * Every)
	costs, err := s.stop()
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	wall := time.Since(began)

	got := costs["proc"]
	t.Logf("process in %s: %+v", proc, got)
	const mib = 1 << 20
	if got.Procs != 1 {
		t.Errorf("procs: got %d, want 1", got.Procs)
	}
	// At most 4 times what it touched: the race detector's shadow memory
	// doubles it and more.
	if got.PSSMeanBytes < allocBytes || got.PSSMeanBytes > 4*allocBytes {
		t.Errorf("PSS mean %.1f MiB, want the %d MiB touched plus the runtime's", got.PSSMeanBytes/mib, allocBytes/mib)
	}
	if got.PSSPeakBytes < got.PSSMeanBytes {
		t.Errorf("PSS peak %.1f MiB below the mean %.1f MiB", got.PSSPeakBytes/mib, got.PSSMeanBytes/mib)
	}
	// The touched memory is private: USS holds it, and never exceeds PSS,
	// which adds a share of the shared pages.
	if got.USSMeanBytes < allocBytes || got.USSMeanBytes > got.PSSMeanBytes {
		t.Errorf("USS mean %.1f MiB, want at least the %d MiB touched and at most the PSS of %.1f MiB", got.USSMeanBytes/mib, allocBytes/mib, got.PSSMeanBytes/mib)
	}
	if got.CgroupMemoryMeanBytes < allocBytes || got.CgroupMemoryMeanBytes > 4*allocBytes {
		t.Errorf("cgroup memory mean %.1f MiB, want the %d MiB touched plus the runtime's", got.CgroupMemoryMeanBytes/mib, allocBytes/mib)
	}
	if least := burnFor.Seconds() * 0.9; got.CPUSeconds < least || got.CPUSeconds > wall.Seconds()*float64(runtime.NumCPU()) {
		t.Errorf("CPU %.3fs, want at least the %s burnt and at most %s on %d CPUs", got.CPUSeconds, burnFor, wall, runtime.NumCPU())
	}
	if e := costs["empty"]; e != (Cost{}) {
		t.Errorf("empty cgroup: got %+v, want nothing", e)
	}
	if _, err := s.stop(); err == nil {
		t.Error("second stop: want an error when not sampling")
	}
}

func TestStartRejects(t *testing.T) {
	s := &session{cg: hostfs.Cgroups{V2: t.TempDir()}}
	tests := []struct {
		name   string
		groups map[string][]string
	}{
		{"missing cgroup", map[string][]string{"a": {"nope"}}},
		{"outside the mount", map[string][]string{"a": {"../etc"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.start(context.Background(), startArgs{Groups: tt.groups}); err == nil {
				t.Error("want an error")
			}
		})
	}
	if _, err := s.stop(); err == nil {
		t.Error("stop without start: want an error")
	}
}

func TestV1Group(t *testing.T) {
	tests := []struct {
		name, rel, v2, v1 string
		want              string
		wantErr           bool
	}{
		{"same place", "run/n0/pod/app", "/run/n0/pod/app", "/run/n0/pod/app", "/run/n0/pod/app", false},
		{"nested under the runner's group", "run/n0/pod/app", "/run/n0/pod/app", "/process_api/x/run/n0/pod/app", "/process_api/x/run/n0/pod/app", false},
		{"process in a descendant", "kubepods/pod1", "/kubepods/pod1/ctr", "/kubepods/pod1/ctr", "/kubepods/pod1", false},
		{"descendant, v1 elsewhere", "kubepods/pod1", "/kubepods/pod1/ctr", "/other", "/other", false},
		{"prefix is not an ancestor", "a/b", "/a/bc/d", "/x/bc/d", "/x/bc/d", false},
		{"no v1 group", "a", "/a", "", "", false},
		{"v1 root stands for the node", "a", "/a", "/", "", false},
		{"other cgroup namespace", "a", "/../a", "/../a", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v1Group(tt.rel, tt.v2, tt.v1)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOutermost(t *testing.T) {
	got := outermost([]string{"/a/b", "/a", "/a-x", "/a/b/c", "/c", "/a"})
	if want := []string{"/a", "/a-x", "/c"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A container's idle process (kube's pause agent) is no part of a group;
// every other process is.
func TestIdle(t *testing.T) {
	// The shell says it runs once it has replaced the forked test binary,
	// whose command line the child shows until then; it then waits on its
	// standard input, in a builtin, so its command line stays its own.
	cmd := exec.Command("/bin/sh", "-c", "echo; read x", "agent", IdleRole)
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if _, err := out.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if !idle(cmd.Process.Pid) {
		t.Errorf("a process running `... agent %s` is not idle", IdleRole)
	}
	if idle(os.Getpid()) {
		t.Error("the test process is idle")
	}
	if idle(1 << 30) {
		t.Error("a process that does not exist is idle")
	}
}
