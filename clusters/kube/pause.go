package kube

import (
	"context"
	"io"

	"github.com/meshbench/meshbench/internal/agent"
)

// PauseRole is the agent role every pod's container runs: it does nothing
// until SIGTERM, keeping the container up for the agents Start execs in it.
const PauseRole = "pause"

func init() { agent.Register(PauseRole, pause) }

// pause waits for the end of ctx, which `meshbench agent` ties to SIGTERM
// and SIGINT.
func pause(ctx context.Context, _ []string, _ io.Reader, _, _ io.Writer) error {
	<-ctx.Done()
	return nil
}
