package app

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/clusters/netns"
)

func newCleanupCommand(stdout io.Writer) *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what killed or retained runs left: namespaces, links, cgroups, processes",
		Args:  argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := netns.Check(); err != nil {
				return err
			}
			removed, err := netns.Cleanup(cmd.Context(), runID)
			fmt.Fprintln(stdout, removed.String())
			return err
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "remove only this run's leftovers (default: every meshbench run)")
	return cmd
}
