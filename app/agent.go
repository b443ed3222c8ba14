package app

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/internal/agent"
)

// newAgentCommand is the hidden entry point of the processes meshbench starts
// inside pods and nodes (echo server, load agent, proxies, node agents): it
// runs one of builtin.Roles.
func newAgentCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:                "agent ROLE [flags]",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return agent.Run(cmd.Context(), builtin.Roles(), args, stdin, stdout, stderr)
		},
	}
}
