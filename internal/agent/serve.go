package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/meshbench/meshbench/internal/wire"
)

// Method names a method of a node agent with the types of its argument and
// its result, which cross the wire as JSON. A role package declares its
// methods once; the role serves them with Handle and its client calls them
// with Invoke, so that both sides agree on the name and the types.
// Methods without an argument or a result use struct{}.
type Method[In, Out any] struct {
	Name string
}

// Handler is one method of a role that answers Calls (see Serve).
type Handler struct {
	name string
	fn   func(ctx context.Context, args []byte) (any, error)
}

// Handle returns the Handler that answers m with fn.
func Handle[In, Out any](m Method[In, Out], fn func(ctx context.Context, in In) (Out, error)) Handler {
	return Handler{name: m.Name, fn: func(ctx context.Context, args []byte) (any, error) {
		var in In
		if len(args) > 0 {
			if err := json.Unmarshal(args, &in); err != nil {
				return nil, fmt.Errorf("decode arguments of %s: %w", m.Name, err)
			}
		}
		return fn(ctx, in)
	}}
}

// Caller calls a node agent's method by name with in as its JSON argument
// and decodes its JSON result into out; *agentctl.Agent is one.
type Caller interface {
	Call(ctx context.Context, method string, in, out any) error
}

// Invoke calls m on the agent behind c.
func Invoke[In, Out any](ctx context.Context, c Caller, m Method[In, Out], in In) (Out, error) {
	var out Out
	err := c.Call(ctx, m.Name, in, &out)
	return out, err
}

// Serve is the control loop of roles that answer Calls (the node agents):
// it sends Ready with addr, then runs the handler of the method every Call
// names, one at a time, until stdin closes or ctx ends, which both are a
// clean exit.
func Serve(ctx context.Context, addr string, stdin io.Reader, stdout io.Writer, handlers ...Handler) error {
	byName := make(map[string]Handler, len(handlers))
	for _, h := range handlers {
		byName[h.name] = h
	}
	enc := wire.NewEncoder(stdout)
	if err := enc.Encode(wire.Message{Ready: &wire.Ready{Addr: addr, Pid: os.Getpid()}}); err != nil {
		return err
	}
	return control(ctx, stdin, enc, func(ctx context.Context, cmd wire.Command, enc *wire.Encoder) error {
		if cmd.Call == nil {
			return fmt.Errorf("this role answers calls only")
		}
		h, ok := byName[cmd.Call.Method]
		if !ok {
			return fmt.Errorf("unknown method %q", cmd.Call.Method)
		}
		v, err := h.fn(ctx, cmd.Call.Args)
		if err != nil {
			return err
		}
		out, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode result of %s: %w", cmd.Call.Method, err)
		}
		return enc.Encode(wire.Message{ID: cmd.ID, Result: out})
	})
}
