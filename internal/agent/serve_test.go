package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/wire"
)

type sumArgs struct{ A, B int }

var (
	sumMethod  = Method[sumArgs, int]{Name: "sum"}
	failMethod = Method[struct{}, struct{}]{Name: "fail"}
)

// serveRole answers sumMethod and failMethod.
func serveRole(ctx context.Context, _ []string, stdin io.Reader, stdout, _ io.Writer) error {
	return Serve(ctx, "", stdin, stdout,
		Handle(sumMethod, func(_ context.Context, in sumArgs) (int, error) { return in.A + in.B, nil }),
		Handle(failMethod, func(context.Context, struct{}) (struct{}, error) { return struct{}{}, errors.New("failed on purpose") }),
	)
}

// procCaller calls a role started with start, as agentctl.Agent does.
type procCaller struct {
	tb testing.TB
	p  *proc
}

func (c procCaller) Call(_ context.Context, method string, in, out any) error {
	args, err := json.Marshal(in)
	if err != nil {
		return err
	}
	msgs := c.p.do(c.tb, wire.Command{Call: &wire.Call{Method: method, Args: args}})
	last := msgs[len(msgs)-1]
	if last.Err != "" {
		return errors.New(last.Err)
	}
	return json.Unmarshal(last.Result, out)
}

// Invoke and Handle agree on the name and the types of a method over the
// wire; an unknown method and a failing handler are errors of the call.
func TestInvokeHandle(t *testing.T) {
	p := start(t, "agent", "test-calls")
	c := procCaller{t, p}
	ctx := t.Context()

	if got, err := Invoke(ctx, c, sumMethod, sumArgs{A: 2, B: 3}); err != nil || got != 5 {
		t.Errorf("Invoke(sum 2 3) = %d, %v; want 5", got, err)
	}
	if _, err := Invoke(ctx, c, failMethod, struct{}{}); err == nil || !strings.Contains(err.Error(), "failed on purpose") {
		t.Errorf("Invoke(fail) = %v, want the handler's error", err)
	}
	unknown := Method[struct{}, struct{}]{Name: "nope"}
	if _, err := Invoke(ctx, c, unknown, struct{}{}); err == nil || !strings.Contains(err.Error(), `unknown method "nope"`) {
		t.Errorf("Invoke(nope) = %v, want unknown method", err)
	}
	wrongType := Method[string, int]{Name: sumMethod.Name}
	if _, err := Invoke(ctx, c, wrongType, "x"); err == nil || !strings.Contains(err.Error(), "decode arguments of sum") {
		t.Errorf("Invoke(sum with a string) = %v, want a decode error", err)
	}
}
