package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kind"
	"github.com/meshbench/meshbench/clusters/netns"
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
clusters named ` + kind.ClusterPrefix + `<run id>.
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
			if err := cluster.check(); err != nil {
				return err
			}
			switch cluster.name {
			case providerKube:
				return cleanupKube(cmd.Context(), cluster, runID, stdout)
			case providerKind:
				return cleanupKind(cmd.Context(), runID, stdout)
			}
			if err := netns.Check(); err != nil {
				return err
			}
			removed, err := cleanupRuns(cmd.Context(), runID)
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
	cmd.Flags().StringVar(&runID, "run", "", "remove the leftovers of the run with this id")
	cmd.Flags().BoolVar(&all, "all", false, "remove the leftovers of every meshbench run, also others' live ones")
	cluster.addFlags(cmd, false)
	return cmd
}

// clusterID finds the cluster id in a leftover's name: mb-<id>-<part> for
// namespaces, .../meshbench-<id> for cgroups.
var clusterID = regexp.MustCompile(`(?:^mb-|/meshbench-)([a-z0-9]+)(?:-|$)`)

// cleanupRuns removes every cluster of the run: a run gives each case's
// cluster the run id followed by the case index. An empty runID removes all.
func cleanupRuns(ctx context.Context, runID string) (netns.Removed, error) {
	if runID == "" {
		return netns.Cleanup(ctx, "")
	}
	found, err := netns.Leftovers("")
	if err != nil {
		return netns.Removed{}, err
	}
	ids := map[string]bool{}
	for _, name := range append(found.Namespaces, found.Cgroups...) {
		if m := clusterID.FindStringSubmatch(name); m != nil && clusters.ClusterOfRun(m[1], runID) {
			ids[m[1]] = true
		}
	}
	var all netns.Removed
	var errs []error
	for id := range ids {
		r, err := netns.Cleanup(ctx, id)
		all.Processes = append(all.Processes, r.Processes...)
		all.Namespaces = append(all.Namespaces, r.Namespaces...)
		all.Cgroups = append(all.Cgroups, r.Cgroups...)
		errs = append(errs, err)
	}
	return all, errors.Join(errs...)
}

// removeState removes the datapaths' state directories of the run (every
// run when runID is empty), named by the run's cluster ids.
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
		if runID != "" && !clusters.ClusterOfRun(e.Name(), runID) {
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
