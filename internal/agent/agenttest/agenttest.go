// Package agenttest lets a test binary stand in for meshbench inside a
// cluster: providers start their own executable as `EXE agent ROLE ...`, and
// Main runs the real roles when the test binary is started that way.
package agenttest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/meshbench/meshbench/internal/agent"
)

// Main is a TestMain: it runs one of roles when the binary was started as
// an agent, and the tests otherwise. Tests that can import package builtin
// pass builtin.Roles(); others pass the roles they start.
func Main(m *testing.M, roles agent.Roles) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := agent.Run(ctx, roles, os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
