package kind

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/meshbench/meshbench/clusters"
)

// Cleanup deletes the kind clusters of the run runID: those of a run
// killed before its teardown, or kept with --retain. A run gives each
// case's cluster the run's id followed by the case index, so every cluster
// named ClusterName(id) with such an id goes and no other run's. It
// returns a line for each cluster it deleted, also when it fails part-way;
// kind's network goes once no kind cluster is left, and so do the
// kubeconfig directories of the run's clusters.
// No Docker or podman engine is an error wrapping clusters.ErrConfig.
func (p *Provider) Cleanup(ctx context.Context, runID string) ([]string, error) {
	if !clusters.ValidRunID(runID) {
		return nil, fmt.Errorf("clean up run %q: want 8 lowercase hex digits", runID)
	}
	return p.cleanup(ctx, func(id string) bool { return clusters.ClusterOfRun(id, runID) })
}

// CleanupAll deletes every meshbench kind cluster, other people's live
// runs' too, as Cleanup does for one run.
func (p *Provider) CleanupAll(ctx context.Context) ([]string, error) {
	return p.cleanup(ctx, func(string) bool { return true })
}

// cleanup deletes the kind clusters named ClusterName(id) whose ids match.
func (p *Provider) cleanup(ctx context.Context, match func(clusterID string) bool) ([]string, error) {
	e, lib, err := p.engine(ctx)
	if err != nil {
		return nil, err
	}
	all, err := lib.List()
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
		if !ok || !match(id) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		if err := lib.Delete(name, filepath.Join(dir, kubeconfigFile)); err != nil {
			return deleted, kindError("delete kind cluster "+name, err)
		}
		deleted = append(deleted, "deleted kind cluster "+name)
	}
	if len(deleted) > 0 {
		if err := e.removeNetwork(lib); err != nil {
			return deleted, err
		}
	}
	removed, err := removeKubeconfigDirs(os.TempDir(), match)
	return append(deleted, removed...), err
}

// removeKubeconfigDirs removes the kubeconfig directories in tmp that
// Create made for the clusters whose ids match (ClusterName(id) followed
// by a dash and MkdirTemp's random digits): a run killed while kind
// created its cluster leaves one, with or without a cluster.
func removeKubeconfigDirs(tmp string, match func(clusterID string) bool) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(tmp, ClusterPrefix+"*-*"))
	if err != nil {
		return nil, fmt.Errorf("find kubeconfig directories: %w", err)
	}
	var removed []string
	for _, dir := range dirs {
		name, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), ClusterPrefix), "-")
		if !ok || len(name) < 8 || !clusters.ClusterOfRun(name, name[:8]) || !match(name) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return removed, fmt.Errorf("remove kubeconfig directory: %w", err)
		}
		removed = append(removed, "removed kubeconfig directory "+dir)
	}
	return removed, nil
}
