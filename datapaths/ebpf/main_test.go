package ebpf

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/meshbench/meshbench/internal/agent"
)

// TestMain lets the test binary stand in for meshbench inside the cluster:
// the netns provider starts its own executable with "agent ROLE ...", and
// the roles (server, load, and the proxy this package's imports register)
// are the real ones.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := agent.Run(ctx, os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
