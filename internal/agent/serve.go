package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/meshbench/meshbench/internal/wire"
)

// Method is one method of a node agent: it decodes its arguments from the
// JSON in args and returns a value that is sent back as JSON.
type Method func(ctx context.Context, args []byte) (any, error)

// Serve is the control loop of roles that answer Calls (the node agents):
// it sends Ready with addr, then runs the named method for every Call, one
// at a time, until stdin closes or ctx ends, which both are a clean exit.
func Serve(ctx context.Context, addr string, stdin io.Reader, stdout io.Writer, methods map[string]Method) error {
	enc := wire.NewEncoder(stdout)
	if err := enc.Encode(wire.Message{Ready: &wire.Ready{Addr: addr, Pid: os.Getpid()}}); err != nil {
		return err
	}
	return control(ctx, stdin, enc, func(ctx context.Context, cmd wire.Command, enc *wire.Encoder) error {
		switch {
		case cmd.Call != nil:
			m, ok := methods[cmd.Call.Method]
			if !ok {
				return fmt.Errorf("unknown method %q", cmd.Call.Method)
			}
			v, err := m(ctx, cmd.Call.Args)
			if err != nil {
				return err
			}
			out, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("encode result of %s: %w", cmd.Call.Method, err)
			}
			return enc.Encode(wire.Message{ID: cmd.ID, Result: out})
		default:
			return fmt.Errorf("this role answers calls only")
		}
	})
}

// Decode is what methods use to read their JSON arguments.
func Decode(args []byte, v any) error {
	if err := json.Unmarshal(args, v); err != nil {
		return fmt.Errorf("decode arguments: %w", err)
	}
	return nil
}
