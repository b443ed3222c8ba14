package app

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/agent"
)

// newAgentCommand is the hidden entry point of the processes meshbench starts
// inside pods and nodes (echo server, load agent, proxies).
func newAgentCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:                "agent ROLE [flags]",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return agent.Run(cmd.Context(), args, stdin, stdout, stderr)
		},
	}
}
