package agentctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/wire"
)

// TestKilledAgent checks that a command to an agent that was killed says
// which agent died and by which signal, not how the write to it failed.
func TestKilledAgent(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"signal", "kill -KILL $$", "ebpf agent on node n1 was killed by SIGKILL; its stderr ended: bpf: oops"},
		{"status", "exit 3", "ebpf agent on node n1 exited with status 3; its stderr ended: bpf: oops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeCluster{exit: exec.Command("sh", "-c", tt.script).Run()}
			a, err := Start(context.Background(), c, clusters.ProcSpec{Name: "ebpf agent on node n1"})
			if err != nil {
				t.Fatal(err)
			}
			c.proc.kill()
			_, err = a.Stats(context.Background())
			if err == nil || err.Error() != tt.want {
				t.Errorf("error after the agent died:\n got: %v\nwant: %s", err, tt.want)
			}
			if strings.Contains(fmt.Sprint(err), "encode") {
				t.Errorf("error %q blames the write, not the death", err)
			}
		})
	}
}

// fakeCluster starts one fakeProcess that says it is ready and, when
// killed, ends as the process whose error exit is did.
type fakeCluster struct {
	clusters.Cluster
	exit error
	proc *fakeProcess
}

func (c *fakeCluster) Start(_ context.Context, spec clusters.ProcSpec) (clusters.Process, error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &fakeProcess{in: inW, inR: inR, out: outR, outW: outW, done: make(chan struct{}),
		err: fmt.Errorf("%s (pid 1) exited: %w; stderr: bpf: oops", spec.Name, c.exit)}
	c.proc = p
	go func() {
		_ = wire.NewEncoder(outW).Encode(wire.Message{Ready: &wire.Ready{Pid: 1}})
	}()
	go func() { _, _ = io.Copy(io.Discard, inR) }()
	return p, nil
}

type fakeProcess struct {
	in   *io.PipeWriter
	inR  *io.PipeReader
	out  *io.PipeReader
	outW *io.PipeWriter
	done chan struct{}
	err  error
}

// kill ends the process: its pipes close and Wait returns its error.
func (p *fakeProcess) kill() {
	p.inR.CloseWithError(errors.New("write |1: file already closed"))
	p.outW.Close()
	close(p.done)
}

func (p *fakeProcess) Pid() int          { return 1 }
func (p *fakeProcess) Stdin() io.Writer  { return p.in }
func (p *fakeProcess) Stdout() io.Reader { return p.out }
func (p *fakeProcess) Wait() error       { <-p.done; return p.err }
func (p *fakeProcess) Stop(time.Duration) error {
	return p.Wait()
}
