// Package agentctl starts `meshbench agent` processes in a cluster and talks
// to them over the internal/wire protocol: the runner's workloads and the
// datapaths' proxies alike.
package agentctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// Agent is a started `meshbench agent` process and its control channel.
// Commands must not overlap: one at a time per Agent.
type Agent struct {
	Name string
	proc clusters.Process
	enc  *wire.Encoder
	msgs chan wire.Message
	// exited is closed when the message stream ends; err says why.
	exited chan struct{}
	err    error
	nextID uint64
	Ready  wire.Ready
}

// Node agents' typed clients call through an Agent.
var _ agent.Caller = (*Agent)(nil)

// readyTimeout bounds how long an agent may take to start serving.
const readyTimeout = 15 * time.Second

// Start starts an agent and waits until it reports Ready.
func Start(ctx context.Context, c clusters.Cluster, spec clusters.ProcSpec) (*Agent, error) {
	return StartWithFiles(ctx, c, spec, nil)
}

// StartWithFiles starts an agent (spec.Args are "agent", the role and its
// flags, as an options type's Args renders them) with agent.FilesOnStdin,
// sends it files (path to content) on its stdin, and waits until it
// reports Ready. Secrets go this way, never in spec.Args.
func StartWithFiles(ctx context.Context, c clusters.Cluster, spec clusters.ProcSpec, files map[string][]byte) (*Agent, error) {
	if files != nil {
		if len(spec.Args) == 0 || spec.Args[0] != "agent" {
			return nil, fmt.Errorf("start %s: arguments %q do not start an agent", spec.Name, spec.Args)
		}
		spec.Args = slices.Concat(spec.Args[:1], []string{agent.FilesOnStdin}, spec.Args[1:])
	}
	proc, err := c.Start(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	if files != nil {
		if err := agent.WriteFiles(proc.Stdin(), files); err != nil {
			proc.Stop(time.Second)
			return nil, fmt.Errorf("start %s: %w", spec.Name, err)
		}
	}
	a := &Agent{
		Name:   spec.Name,
		proc:   proc,
		enc:    wire.NewEncoder(proc.Stdin()),
		msgs:   make(chan wire.Message, 64),
		exited: make(chan struct{}),
	}
	go a.read()
	select {
	case m, ok := <-a.msgs:
		switch {
		case !ok:
			return nil, fmt.Errorf("exited before it was ready: %w", a.err)
		case m.Ready == nil:
			a.Stop()
			return nil, fmt.Errorf("%s: first message was not ready", a.Name)
		}
		a.Ready = *m.Ready
		return a, nil
	case <-time.After(readyTimeout):
		a.Stop()
		return nil, fmt.Errorf("%s not ready after %s", a.Name, readyTimeout)
	case <-ctx.Done():
		a.Stop()
		return nil, ctx.Err()
	}
}

// Run runs a one-shot agent role (one that exits when done, without the
// control protocol) and waits until it exits.
func Run(ctx context.Context, c clusters.Cluster, spec clusters.ProcSpec) error {
	proc, err := c.Start(ctx, spec)
	if err != nil {
		return fmt.Errorf("start %s: %w", spec.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- proc.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", spec.Name, err)
		}
		return nil
	case <-ctx.Done():
		_ = proc.Stop(time.Second)
		return fmt.Errorf("%s: %w", spec.Name, ctx.Err())
	}
}

func (a *Agent) read() {
	dec := wire.NewDecoder(a.proc.Stdout())
	for {
		var m wire.Message
		if err := dec.Decode(&m); err != nil {
			werr := a.proc.Wait()
			switch {
			case werr != nil:
				a.err = died(a.Name, werr)
			case errors.Is(err, io.EOF):
				a.err = fmt.Errorf("%s exited", a.Name)
			default:
				a.err = fmt.Errorf("read control stream: %w", err)
			}
			close(a.msgs)
			close(a.exited)
			return
		}
		a.msgs <- m
	}
}

// do sends cmd and hands every answer to onMsg until one ends the command
// (Done, Stats or Err).
func (a *Agent) do(ctx context.Context, cmd wire.Command, onMsg func(wire.Message)) error {
	a.nextID++
	cmd.ID = a.nextID
	if err := a.enc.Encode(cmd); err != nil {
		// A closed control channel mostly means a dead agent: say how it
		// died rather than how the write failed.
		if dead := a.dead(); dead != nil {
			return dead
		}
		return fmt.Errorf("%s: %w", a.Name, err)
	}
	for {
		select {
		case m, ok := <-a.msgs:
			if !ok {
				return a.err
			}
			if m.ID != cmd.ID {
				continue
			}
			onMsg(m)
			if m.Err != "" {
				return fmt.Errorf("%s: %s", a.Name, m.Err)
			}
			if m.Done != nil || m.Stats != nil || m.Result != nil {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// dead waits a moment for the agent to exit and says how it did; nil if it
// still runs.
func (a *Agent) dead() error {
	select {
	case <-a.exited:
		return a.err
	case <-time.After(time.Second):
		return nil
	}
}

// exitError is how an agent's process ended, named by the agent's role and
// place: "ebpf agent on node n1 was killed by SIGKILL".
type exitError struct {
	name, how string
	err       error // the process's own error, with its stderr
}

func (e *exitError) Error() string {
	msg := e.name + " " + e.how
	if _, tail, ok := strings.Cut(e.err.Error(), "; stderr: "); ok {
		msg += "; its stderr ended: " + tail
	}
	return msg
}

func (e *exitError) Unwrap() error { return e.err }

// died describes the exit that werr, the error of the process's Wait,
// reports: the signal that killed it or its exit status.
func died(name string, werr error) error {
	var ee *exec.ExitError
	if !errors.As(werr, &ee) {
		return fmt.Errorf("%s exited: %w", name, werr)
	}
	how := fmt.Sprintf("exited with status %d", ee.ExitCode())
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		how = "was killed by " + unix.SignalName(ws.Signal())
	}
	return &exitError{name: name, how: how, err: werr}
}

// Stats asks the agent for its counters.
func (a *Agent) Stats(ctx context.Context) (map[string]uint64, error) {
	var out map[string]uint64
	err := a.do(ctx, wire.Command{Stats: true}, func(m wire.Message) { out = m.Stats })
	return out, err
}

// Call runs a node agent's method with in as its JSON arguments and decodes
// its JSON result into out (nil ignores the result). Callers go through a
// role's client, which names the method with an agent.Method.
func (a *Agent) Call(ctx context.Context, method string, in, out any) error {
	args, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode arguments of %s: %w", a.Name, method, err)
	}
	var res []byte
	err = a.do(ctx, wire.Command{Call: &wire.Call{Method: method, Args: args}}, func(m wire.Message) { res = m.Result })
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(res, out); err != nil {
		return fmt.Errorf("%s: decode result of %s: %w", a.Name, method, err)
	}
	return nil
}

// Attack runs an attack, handing sample batches to onSamples.
func (a *Agent) Attack(ctx context.Context, at wire.Attack, onSamples func([]results.Sample)) (wire.Done, error) {
	var done wire.Done
	err := a.do(ctx, wire.Command{Attack: &at}, func(m wire.Message) {
		if len(m.Samples) > 0 {
			onSamples(m.Samples)
		}
		if m.Done != nil {
			done = *m.Done
		}
	})
	return done, err
}

// Alive returns nil while the agent runs and why it died afterwards.
func (a *Agent) Alive() error {
	select {
	case <-a.exited:
		return a.err
	default:
		return nil
	}
}

// Stop ends the agent: SIGTERM, then SIGKILL after a grace period.
func (a *Agent) Stop() { _ = a.proc.Stop(2 * time.Second) }
