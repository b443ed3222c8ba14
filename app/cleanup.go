package app

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
)

func newCleanupCommand(stdout io.Writer) *cobra.Command {
	var runID string
	var all bool
	var cluster providerOptions
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what killed or retained runs left: processes, namespaces, links, cgroups, state files",
		Long: `Remove what killed (SIGKILL) or retained (--retain) runs left behind: their
processes, network namespaces (with their links, routes and nftables rules),
cgroups, and the datapaths' state files under ` + datapaths.StateRoot + `. BPF programs
go with the cgroups and devices they were attached to; meshbench pins none.
With --provider kube, delete the run namespaces (label meshbench.dev/run) in
the cluster of --kubeconfig instead; with --provider kind, delete the kind
clusters named meshbench-<run id>.
Name the run with --run ID (its id is in the run's first status line), or
give --all to remove every meshbench run, other people's live runs too.`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			runSet := cmd.Flags().Changed("run")
			switch {
			case runSet == all:
				return usagef("name what to remove: --run ID for one run (its id is in the run's first status line), or --all for every meshbench run on this host")
			case runSet && !clusters.ValidRunID(runID):
				return usagef("run id %q: give the 8 lowercase hex digits that the run printed as its id", runID)
			}
			p, err := cluster.provider()
			if err != nil {
				return err
			}
			var removed []string
			if all {
				removed, err = p.CleanupAll(cmd.Context())
			} else {
				removed, err = p.Cleanup(cmd.Context(), runID)
			}
			for _, line := range removed {
				fmt.Fprintln(stdout, line)
			}
			if err == nil && len(removed) == 0 {
				fmt.Fprintln(stdout, "nothing to clean up")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "remove the leftovers of the run with this id")
	cmd.Flags().BoolVar(&all, "all", false, "remove the leftovers of every meshbench run, also others' live ones")
	cluster.addFlags(cmd, false)
	return cmd
}
