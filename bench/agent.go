package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/wire"
)

// agent is a started `meshbench agent` process and its control channel.
type agent struct {
	name string
	proc clusters.Process
	enc  *wire.Encoder
	msgs chan wire.Message
	// exited is closed when the message stream ends; err says why.
	exited chan struct{}
	err    error
	nextID uint64
	ready  wire.Ready
}

// readyTimeout bounds how long an agent may take to start serving.
const readyTimeout = 15 * time.Second

// startAgent starts an agent and waits until it reports Ready.
func startAgent(ctx context.Context, c clusters.Cluster, spec clusters.ProcSpec) (*agent, error) {
	proc, err := c.Start(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	a := &agent{
		name:   spec.Name,
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
			return nil, fmt.Errorf("%s exited before it was ready: %w", a.name, a.err)
		case m.Ready == nil:
			a.stop()
			return nil, fmt.Errorf("%s: first message was not ready", a.name)
		}
		a.ready = *m.Ready
		return a, nil
	case <-time.After(readyTimeout):
		a.stop()
		return nil, fmt.Errorf("%s not ready after %s", a.name, readyTimeout)
	case <-ctx.Done():
		a.stop()
		return nil, ctx.Err()
	}
}

func (a *agent) read() {
	dec := wire.NewDecoder(a.proc.Stdout())
	for {
		var m wire.Message
		if err := dec.Decode(&m); err != nil {
			werr := a.proc.Wait()
			switch {
			case werr != nil:
				a.err = werr
			case errors.Is(err, io.EOF):
				a.err = errors.New("exited")
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
func (a *agent) do(ctx context.Context, cmd wire.Command, onMsg func(wire.Message)) error {
	a.nextID++
	cmd.ID = a.nextID
	if err := a.enc.Encode(cmd); err != nil {
		return fmt.Errorf("%s: %w (%v)", a.name, err, a.failure())
	}
	for {
		select {
		case m, ok := <-a.msgs:
			if !ok {
				return fmt.Errorf("%s died: %w", a.name, a.err)
			}
			if m.ID != cmd.ID {
				continue
			}
			onMsg(m)
			if m.Err != "" {
				return fmt.Errorf("%s: %s", a.name, m.Err)
			}
			if m.Done != nil || m.Stats != nil {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (a *agent) failure() error {
	select {
	case <-a.exited:
		return a.err
	case <-time.After(time.Second):
		return errors.New("still running")
	}
}

// stats asks the agent for its counters.
func (a *agent) stats(ctx context.Context) (map[string]uint64, error) {
	var out map[string]uint64
	err := a.do(ctx, wire.Command{Stats: true}, func(m wire.Message) { out = m.Stats })
	return out, err
}

// attack runs an attack, handing sample batches to onSamples.
func (a *agent) attack(ctx context.Context, at wire.Attack, onSamples func([]wire.Sample)) (wire.Done, error) {
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

// alive reports the error of an agent that has exited, or nil.
func (a *agent) alive() error {
	select {
	case <-a.exited:
		return fmt.Errorf("%s died: %w", a.name, a.err)
	default:
		return nil
	}
}

func (a *agent) stop() { _ = a.proc.Stop(2 * time.Second) }
