package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths"
)

func newCleanupCommand(stdout io.Writer) *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what killed or retained runs left: processes, namespaces, links, cgroups, state files",
		Long: `Remove what killed (SIGKILL) or retained (--retain) runs left behind: their
processes, network namespaces (with their links, routes and nftables rules),
cgroups, and the datapaths' state files under ` + datapaths.StateRoot + `. BPF programs
go with the cgroups and devices they were attached to; meshbench pins none.`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := netns.Check(); err != nil {
				return err
			}
			removed, err := netns.Cleanup(cmd.Context(), runID)
			state, serr := removeState(runID)
			for _, p := range removed.Processes {
				fmt.Fprintf(stdout, "killed process %d (%s)\n", p.PID, p.Command)
			}
			for _, n := range removed.Namespaces {
				fmt.Fprintf(stdout, "deleted network namespace %s\n", n)
			}
			for _, c := range removed.Cgroups {
				fmt.Fprintf(stdout, "removed cgroup %s\n", c)
			}
			for _, s := range state {
				fmt.Fprintf(stdout, "removed state %s\n", s)
			}
			if removed.Empty() && len(state) == 0 {
				fmt.Fprintln(stdout, "nothing to clean up")
			}
			return errors.Join(err, serr)
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "remove only this run's leftovers (default: every meshbench run)")
	return cmd
}

// removeState removes the datapaths' state directories of the run (every
// run when runID is empty). A run's clusters use ids that start with it.
func removeState(runID string) ([]string, error) {
	entries, err := os.ReadDir(datapaths.StateRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	var removed []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), runID) {
			continue
		}
		dir := filepath.Join(datapaths.StateRoot, e.Name())
		if err := os.RemoveAll(dir); err != nil {
			return removed, fmt.Errorf("remove state: %w", err)
		}
		removed = append(removed, dir)
	}
	return removed, nil
}
