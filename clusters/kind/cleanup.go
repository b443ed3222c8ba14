package kind

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kind/pkg/cluster"

	"github.com/meshbench/meshbench/clusters"
)

// Cleanup deletes the kind clusters of the run runID: those of a run
// killed before its teardown, or kept with --retain. A run gives each
// case's cluster the run's id followed by the case index, so every cluster
// named ClusterName(id) with such an id goes and no other run's; an empty
// runID deletes every meshbench kind cluster. It returns the clusters it deleted.
// No Docker or podman engine is an error wrapping clusters.ErrConfig.
func Cleanup(ctx context.Context, runID string) ([]string, error) {
	if runID != "" && !clusters.ValidRunID(runID) {
		return nil, fmt.Errorf("clean up run %q: want 8 lowercase hex digits", runID)
	}
	e, err := detectEngine(ctx)
	if err != nil {
		return nil, err
	}
	p := cluster.NewProvider(e.option)
	all, err := p.List()
	if err != nil {
		return nil, kindError("list kind clusters", err)
	}
	slices.Sort(all)
	// kind deletes a cluster's entry from a kubeconfig: this empty one,
	// not the user's.
	dir, err := os.MkdirTemp("", "meshbench-kind-cleanup-")
	if err != nil {
		return nil, fmt.Errorf("clean up kind clusters: %w", err)
	}
	defer os.RemoveAll(dir)
	var deleted []string
	for _, name := range all {
		id, ok := strings.CutPrefix(name, ClusterPrefix)
		if !ok || runID != "" && !clusters.ClusterOfRun(id, runID) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		if err := p.Delete(name, filepath.Join(dir, kubeconfigFile)); err != nil {
			return deleted, kindError("delete kind cluster "+name, err)
		}
		deleted = append(deleted, name)
	}
	return deleted, nil
}
