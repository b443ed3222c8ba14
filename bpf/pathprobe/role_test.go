package pathprobe_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/internal/bpftest"
)

func TestRoleFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"watches a namespace", pathprobe.Options{Namespaces: []pathprobe.Namespace{{Name: "node n0", Path: "/proc/self/ns/net"}}}.Args()[1:], ""},
		{"filters addresses", pathprobe.Options{Namespaces: []pathprobe.Namespace{
			{Name: "node n0", Path: "/proc/self/ns/net"}, {Name: "pod p0", Path: "/proc/self/ns/net", Loopback: true},
		}, Allow: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/24"), netip.MustParsePrefix("172.18.0.2/32")}}.Args()[1:], ""},
		{"no namespace", []string{pathprobe.Role}, "give at least one -netns"},
		{"only addresses", []string{pathprobe.Role, "-allow", "10.0.0.0/8"}, "give at least one -netns"},
		{"bad prefix", []string{pathprobe.Role, "-netns", "a=/proc/self/ns/net", "-allow", "10.0.0.1"}, "no '/'"},
		{"IPv6 prefix", []string{pathprobe.Role, "-netns", "a=/proc/self/ns/net", "-allow", "fd00::/8"}, "want an IPv4 prefix"},
		{"no path", []string{pathprobe.Role, "-netns", "node n0"}, "want NAME=PATH"},
		{"missing namespace", []string{pathprobe.Role, "-netns", "node n0=/nonexistent/ns"}, "stat network namespace /nonexistent/ns"},
		{"missing process cgroup", []string{pathprobe.Role, "-netns", "a=/proc/self/ns/net", "-process", "app=/nonexistent-meshbench-cgroup"}, "process app: stat cgroup"},
		{"process outside cgroup2", []string{pathprobe.Role, "-netns", "a=/proc/self/ns/net", "-process", "app=../x"}, "not a path under the cgroup2 mount"},
		{"process without cgroup", []string{pathprobe.Role, "-netns", "a=/proc/self/ns/net", "-process", "app"}, "want NAME=PATH"},
		{"stray argument", []string{pathprobe.Role, "-netns", "a=/proc/self/ns/net", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Without commands on stdin a valid agent reports Ready and
			// exits cleanly, having loaded nothing.
			var stdout, stderr bytes.Buffer
			err := agent.Run(context.Background(), agent.Roles{pathprobe.Role: pathprobe.NodeAgent}, tt.args, strings.NewReader(""), &stdout, &stderr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want nil", err)
			case tt.wantErr == "" && stdout.Len() == 0:
				t.Error("agent wrote nothing, want Ready")
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestRole runs the role in a process of its own, as the runner does on a
// node, and drives it through agentctl: counts and the labelled trace of
// requests between two namespaces, and nothing of the probe left once the
// agent is gone.
func TestRole(t *testing.T) {
	pr := newPair(t)
	ctx := context.Background()
	a, err := agentctl.Start(ctx, hostCluster{}, clusters.ProcSpec{
		Name: "path probe",
		Args: pathprobe.Options{
			Namespaces: []pathprobe.Namespace{{Name: "pod a", Path: pr.a.Path}, {Name: "pod b", Path: pr.b.Path}},
			// This test's process makes the traffic on both ends.
			Processes: []pathprobe.Process{{Name: "test", Cgroup: selfCgroupPath(t)}},
		}.Args(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	c := pathprobe.Client{Caller: a}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	if _, err := c.Counts(ctx); err == nil {
		t.Error("counts before attach succeeded, want an error")
	}
	at, err := c.Attach(ctx)
	must("attach", err)
	if at.Unsupported != "" {
		t.Fatalf("attach: unsupported on this kernel: %s", at.Unsupported)
	}
	ours := objectsOf(t, a.Ready.Pid)
	if got, want := len(ours.Links), len(pathprobe.ProgramNames); got != want {
		t.Errorf("agent holds %d BPF links, want %d", got, want)
	}

	pr.dial(t)
	pr.roundTrip(t)
	must("reset", c.Reset(ctx))
	const requests = 10
	for range requests {
		pr.roundTrip(t)
	}
	counts, err := c.Counts(ctx)
	must("counts", err)
	got := map[pathprobe.Key]uint64{}
	for _, c := range counts {
		got[c.Key] += c.N
	}
	for _, k := range []pathprobe.Key{
		{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.Transmit},
		{Netns: pr.bIno, Ifindex: pr.bIndex, Event: pathprobe.Receive},
		{Netns: pr.bIno, Ifindex: pr.bIndex, Event: pathprobe.Transmit},
		{Netns: pr.aIno, Ifindex: pr.aIndex, Event: pathprobe.Receive},
	} {
		if got[k] < requests {
			t.Errorf("count[%+v] = %d, want >= %d", k, got[k], requests)
		}
	}
	for k, n := range got {
		if k.Netns != pr.aIno && k.Netns != pr.bIno {
			t.Errorf("count[%+v] = %d: namespace not watched", k, n)
		}
	}

	must("start trace", c.StartTrace(ctx))
	pr.roundTrip(t)
	steps, err := c.StopTrace(ctx)
	must("stop trace", err)
	for _, s := range steps {
		t.Logf("%12v %-6s %-7s %-12s %dB %s", s.Time, s.Namespace, s.Device, s.Type, s.Len, s.Actor)
	}
	if !slices.IsSortedFunc(steps, func(x, y pathprobe.Step) int { return cmp.Compare(x.Time, y.Time) }) {
		t.Error("steps are not in time order")
	}
	for _, s := range steps {
		if s.Namespace != "pod a" && s.Namespace != "pod b" || s.Ifindex != 0 && strings.HasPrefix(s.Device, "if") {
			t.Errorf("step %+v: want it labelled with a watched namespace and an existing device", s)
		}
		want := "test"
		if s.Context != pathprobe.TaskContext {
			want = pathprobe.KernelActor
		}
		if s.Type == pathprobe.Receive && s.Context != pathprobe.SoftirqContext {
			t.Errorf("step %+v: a receive outside a softirq", s)
		}
		if s.Actor != want {
			t.Errorf("step %s in %s (%s context): actor %q, want %q", s.Type, s.Namespace, s.Context, s.Actor, want)
		}
	}
	want := []pathprobe.Step{
		{Namespace: "pod a", Device: "veth-a", Event: pathprobe.Event{Type: pathprobe.Transmit}},
		{Namespace: "pod b", Device: "veth-b", Event: pathprobe.Event{Type: pathprobe.Receive}},
		{Namespace: "pod b", Event: pathprobe.Event{Type: pathprobe.SocketRecv}},
		{Namespace: "pod b", Device: "veth-b", Event: pathprobe.Event{Type: pathprobe.Transmit}},
		{Namespace: "pod a", Device: "veth-a", Event: pathprobe.Event{Type: pathprobe.Receive}},
		{Namespace: "pod a", Event: pathprobe.Event{Type: pathprobe.SocketRecv}},
	}
	i := 0
	for _, s := range steps {
		if i < len(want) && s.Namespace == want[i].Namespace && s.Device == want[i].Device && s.Type == want[i].Type {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("trace lacks step %d (%s on %q in %s) of the request's path", i, want[i].Type, want[i].Device, want[i].Namespace)
	}

	a.Stop()
	ours.WaitGone(t)
}

// objectsOf returns the probe's BPF objects that process pid holds open,
// found through its file descriptors so that probes other tests load at
// the same time do not count.
func objectsOf(tb testing.TB, pid int) bpftest.Objects {
	tb.Helper()
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatalf("list file descriptors of %d: %v", pid, err)
	}
	var o bpftest.Objects
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		fields := map[string]uint32{}
		for line := range strings.Lines(string(b)) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				fields[k] = uint32(n)
			}
		}
		switch {
		case fields["link_id"] != 0:
			o.Links = append(o.Links, link.ID(fields["link_id"]))
		case fields["prog_id"] != 0:
			id := ebpf.ProgramID(fields["prog_id"])
			p, err := ebpf.NewProgramFromID(id)
			if err != nil {
				tb.Fatalf("open program %d: %v", id, err)
			}
			info, err := p.Info()
			p.Close()
			if err != nil {
				tb.Fatalf("program %d info: %v", id, err)
			}
			if !slices.Contains(pathprobe.ProgramNames, info.Name) {
				tb.Errorf("agent holds program %d %q, not one of the probe's", id, info.Name)
			}
			o.Programs = append(o.Programs, id)
		case fields["map_id"] != 0:
			o.Maps = append(o.Maps, ebpf.MapID(fields["map_id"]))
		}
	}
	return o
}

// hostCluster is a cluster whose every target is this host, as far as
// starting agents goes: it runs this test binary (see TestMain) as
// `EXE agent ROLE ...` in the test's own namespaces.
type hostCluster struct{}

func (hostCluster) Topology() *clusters.Topology { return &clusters.Topology{} }
func (hostCluster) Delete(context.Context) error { return nil }

func (hostCluster) Start(_ context.Context, spec clusters.ProcSpec) (clusters.Process, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command(os.Args[0], spec.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &hostProcess{cmd: cmd, stdin: inW, stdout: outR, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		inW.Close()
		close(p.done)
	}()
	return p, nil
}

type hostProcess struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *os.File
	done   chan struct{}
	err    error
}

func (p *hostProcess) Pid() int          { return p.cmd.Process.Pid }
func (p *hostProcess) Stdin() io.Writer  { return p.stdin }
func (p *hostProcess) Stdout() io.Reader { return p.stdout }

func (p *hostProcess) Wait() error {
	<-p.done
	return p.err
}

func (p *hostProcess) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.stdout.Close()
	return p.err
}
