package kube

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters"
)

// inPodExec stands in for pods/exec: it runs the "agent" named by the
// command's last argument in this process.
//
//   - echo: writes every stdin line back to stdout, exits at EOF;
//   - fail: writes to stderr and fails;
//   - stubborn: ignores stdin and runs until its stream is cancelled.
func inPodExec(ctx context.Context, namespace, pod, container string, command []string, stdin io.Reader, stdout, stderr io.Writer) error {
	switch command[len(command)-1] {
	case "echo":
		eof := make(chan struct{})
		go func() {
			defer close(eof)
			fmt.Fprintf(stdout, "%s/%s/%s %s\n", namespace, pod, container, strings.Join(command, " "))
			sc := bufio.NewScanner(stdin)
			for sc.Scan() {
				fmt.Fprintln(stdout, sc.Text())
			}
		}()
		select {
		case <-eof:
			return nil
		case <-ctx.Done(): // the stream is torn down
			return ctx.Err()
		}
	case "fail":
		fmt.Fprintln(stderr, "boom: the agent failed")
		return errors.New("command terminated with non-zero exit code: exit status 3")
	case "stubborn":
		<-ctx.Done()
		return ctx.Err()
	}
	return fmt.Errorf("unknown agent %q", command)
}

func startTestCluster(tb testing.TB) *Cluster {
	tb.Helper()
	client := fakeCluster(tb, runningPod, threeNodes()...)
	p := newProvider(client, inPodExec, Options{Executable: staticBinary(tb), Import: (&importRecorder{}).importArchive, ReadyTimeout: time.Second})
	p.locate = fakeLocate
	c, err := p.Create(context.Background(), spec("proc0"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Delete(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return c.(*Cluster)
}

func start(tb testing.TB, c *Cluster, target clusters.Target, agent string) clusters.Process {
	tb.Helper()
	p, err := c.Start(context.Background(), clusters.ProcSpec{Target: target, Name: agent, Args: []string{"agent", agent}})
	if err != nil {
		tb.Fatalf("start %s: %v", agent, err)
	}
	return p
}

func TestStart(t *testing.T) {
	c := startTestCluster(t)
	pod := clusters.Target{Pod: "svc-000-1"}

	t.Run("pipes and stop", func(t *testing.T) {
		p := start(t, c, pod, "echo")
		r := bufio.NewReader(p.Stdout())
		first, _ := r.ReadString('\n')
		if want := "meshbench-proc0/svc-000-1/app /meshbench agent echo\n"; first != want {
			t.Errorf("first line %q, want %q", first, want)
		}
		fmt.Fprintln(p.Stdin(), "hello")
		if got, _ := r.ReadString('\n'); got != "hello\n" {
			t.Errorf("echo: got %q, want %q", got, "hello\n")
		}
		if err := p.Stop(time.Second); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := p.Wait(); err != nil {
			t.Errorf("wait: %v", err)
		}
		if _, err := io.ReadAll(r); err != nil {
			t.Errorf("stdout after exit: %v, want EOF", err)
		}
		if _, err := fmt.Fprintln(p.Stdin(), "late"); err == nil {
			t.Error("write to stdin after exit: got nil error")
		}
	})
	t.Run("failure quotes stderr", func(t *testing.T) {
		p := start(t, c, pod, "fail")
		err := p.Wait()
		if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "stderr: boom: the agent failed") {
			t.Errorf("wait: got %v, want the exit status and the stderr tail", err)
		}
	})
	t.Run("stubborn", func(t *testing.T) {
		p := start(t, c, pod, "stubborn")
		err := p.Stop(50 * time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "exec stream cancelled") {
			t.Errorf("stop: got %v, want the stream cancelled", err)
		}
	})
	t.Run("containers", func(t *testing.T) {
		for _, tt := range []struct {
			target    clusters.Target
			container string
			want      string
		}{
			{pod, "sidecar", "meshbench-proc0/svc-000-1/sidecar"},
			{clusters.Target{Node: "worker-a"}, "", "meshbench-proc0/meshbench-node-worker-a/agent"},
			{clusters.Target{Node: "worker-c"}, "nodeproxy", "meshbench-proc0/meshbench-node-worker-c/nodeproxy"},
		} {
			p, err := c.Start(context.Background(), clusters.ProcSpec{Target: tt.target, Container: tt.container, Name: "x", Args: []string{"agent", "echo"}})
			if err != nil {
				t.Fatal(err)
			}
			first, _ := bufio.NewReader(p.Stdout()).ReadString('\n')
			if !strings.HasPrefix(first, tt.want+" ") {
				t.Errorf("%+v in container %q: ran in %q, want %s", tt.target, tt.container, first, tt.want)
			}
			p.Stop(time.Second)
		}
	})
	t.Run("bad targets", func(t *testing.T) {
		for _, tg := range []clusters.Target{{Node: "nope"}, {Pod: "nope"}, {Pod: "client-0", Node: "worker-a"}, {}} {
			if _, err := c.Start(context.Background(), clusters.ProcSpec{Target: tg, Name: "x", Args: []string{"agent", "echo"}}); err == nil {
				t.Errorf("start in %+v: got nil error", tg)
			}
		}
	})
}

// TestDeleteEndsProcesses checks that Delete ends the exec streams of
// processes still running.
func TestDeleteEndsProcesses(t *testing.T) {
	c := startTestCluster(t)
	procs := []clusters.Process{
		start(t, c, clusters.Target{Pod: "client-0"}, "stubborn"),
		start(t, c, clusters.Target{Pod: "svc-000-0"}, "echo"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Delete(ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for i, p := range procs {
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case <-done:
		case <-ctx.Done():
			t.Errorf("process %d still running after Delete", i)
		}
	}
	if got := namespaces(t, c.client); len(got) != 0 {
		t.Errorf("namespaces after delete: %v", got)
	}
}
