package netns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
)

const (
	// killTimeout bounds the wait for killed processes to exit, and for
	// their cgroups to become removable.
	killTimeout = 10 * time.Second
	// teardownWorkers bounds parallel namespace and cgroup removal.
	teardownWorkers = 8
)

// Cleanup removes what the run runID left on this host: the namespaces,
// cgroups and processes of its cases' clusters (found by name, as
// Leftovers finds them) and their state directories under
// Options.StateRoot. Before it removes anything it returns Check's errors.
func (p *Provider) Cleanup(ctx context.Context, runID string) ([]string, error) {
	if !clusters.ValidRunID(runID) {
		return nil, fmt.Errorf("clean up run %q: want 8 lowercase hex digits", runID)
	}
	if err := check(); err != nil {
		return nil, err
	}
	found, err := Leftovers("")
	if err != nil {
		return nil, err
	}
	var r Removed
	var errs []error
	for _, id := range clusterIDs(found) {
		if !clusters.ClusterOfRun(id, runID) {
			continue
		}
		got, err := cleanupCluster(ctx, id)
		r.Processes = append(r.Processes, got.Processes...)
		r.Namespaces = append(r.Namespaces, got.Namespaces...)
		r.Cgroups = append(r.Cgroups, got.Cgroups...)
		errs = append(errs, err)
	}
	state, err := p.removeState(func(id string) bool { return clusters.ClusterOfRun(id, runID) })
	return append(r.lines(), state...), errors.Join(append(errs, err)...)
}

// CleanupAll removes what every meshbench run has on this host, live ones
// too, as Cleanup does for one run.
func (p *Provider) CleanupAll(ctx context.Context) ([]string, error) {
	if err := check(); err != nil {
		return nil, err
	}
	r, err := cleanupCluster(ctx, "")
	state, serr := p.removeState(func(string) bool { return true })
	return append(r.lines(), state...), errors.Join(err, serr)
}

// removeState removes the state directories under Options.StateRoot whose
// names (cluster ids) match, and says which it removed.
func (p *Provider) removeState(match func(clusterID string) bool) ([]string, error) {
	if p.opts.StateRoot == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(p.opts.StateRoot)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	var removed []string
	for _, e := range entries {
		if !match(e.Name()) {
			continue
		}
		dir := filepath.Join(p.opts.StateRoot, e.Name())
		if err := os.RemoveAll(dir); err != nil {
			return removed, fmt.Errorf("remove state: %w", err)
		}
		removed = append(removed, "removed state "+dir)
	}
	return removed, nil
}

// Removed lists what a cluster's cleanup removed, or what Leftovers found.
type Removed struct {
	Processes []Proc
	// Namespaces are names under /run/netns; deleting one deletes its links,
	// routes and nftables rules.
	Namespaces []string
	// Cgroups are the runs' top cgroup directories (absolute, cgroup v2 and
	// v1), each removed with everything under it.
	Cgroups []string
}

// Proc is a process that belonged to a run.
type Proc struct {
	PID     int
	Command string
}

// Empty reports whether nothing was found.
func (r Removed) Empty() bool {
	return len(r.Processes) == 0 && len(r.Namespaces) == 0 && len(r.Cgroups) == 0
}

// lines says what was removed, one line each, in the order of removal.
func (r Removed) lines() []string {
	var out []string
	for _, p := range r.Processes {
		out = append(out, fmt.Sprintf("killed process %d (%s)", p.PID, p.Command))
	}
	for _, n := range r.Namespaces {
		out = append(out, "deleted network namespace "+n)
	}
	for _, c := range r.Cgroups {
		out = append(out, "removed cgroup "+c)
	}
	return out
}

// Leftovers lists, changing nothing, what the cluster clusterID has on
// this host: its namespaces under /run/netns, its cgroups, and the
// processes in either. An empty clusterID lists every meshbench cluster.
func Leftovers(clusterID string) (Removed, error) {
	r, _, err := find(clusterID)
	return r, err
}

// cleanupCluster removes what Leftovers(clusterID) finds, as a killed run
// leaves it: it kills the processes and waits for them to exit, deletes
// the namespaces, and removes the cgroups bottom-up. An empty clusterID
// cleans up every meshbench cluster on the host, including live ones. It
// returns what it found to remove, also when it fails part-way.
func cleanupCluster(ctx context.Context, clusterID string) (Removed, error) {
	r, inodes, err := find(clusterID)
	if err != nil {
		return r, err
	}
	if r.Empty() {
		return r, nil
	}
	var errs []error
	if err := killAll(ctx, r.Cgroups, inodes); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, forEach(len(r.Namespaces), func(i int) error {
		return deleteNamespace(r.Namespaces[i])
	}))
	errs = append(errs, removeCgroups(ctx, r.Cgroups))
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("clean up run %q: %w", clusterID, err)
	}
	return r, nil
}

// The names of every cluster's namespaces and top cgroups, with the
// cluster id as the first submatch.
var (
	anyNamespace = namespacePattern("(" + runIDSyntax + ")")
	anyCgroup    = cgroupPattern("(" + runIDSyntax + ")")
)

// namespacePattern matches the names of the namespaces of the clusters
// whose ids id matches.
func namespacePattern(id string) *regexp.Regexp {
	return regexp.MustCompile(`^` + nsName(id, `(?:fabric|n[0-9]+|p[0-9]+)`) + `$`)
}

// cgroupPattern matches the names of the top cgroups of the clusters whose
// ids id matches.
func cgroupPattern(id string) *regexp.Regexp {
	return regexp.MustCompile(`^` + cgroupRoot(id) + `$`)
}

// clusterIDs returns, sorted, the ids of the clusters r's namespaces and
// cgroups belong to.
func clusterIDs(r Removed) []string {
	var ids []string
	for _, n := range r.Namespaces {
		if m := anyNamespace.FindStringSubmatch(n); m != nil {
			ids = append(ids, m[1])
		}
	}
	for _, c := range r.Cgroups {
		if m := anyCgroup.FindStringSubmatch(filepath.Base(c)); m != nil {
			ids = append(ids, m[1])
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// find looks for the cluster's namespaces, cgroups and processes (every
// cluster's for an empty clusterID); it also returns the namespaces'
// inode numbers.
func find(clusterID string) (Removed, map[uint64]bool, error) {
	var r Removed
	nsRE, cgRE := anyNamespace, anyCgroup
	if clusterID != "" {
		if !runIDPattern.MatchString(clusterID) {
			return r, nil, fmt.Errorf("find run %q: want 1 to 16 lowercase letters or digits", clusterID)
		}
		id := regexp.QuoteMeta(clusterID)
		nsRE, cgRE = namespacePattern(id), cgroupPattern(id)
	}

	inodes, err := findNamespaces(nsRE, &r)
	if err != nil {
		return r, nil, err
	}
	cg, err := detectCgroups()
	if err != nil {
		return r, nil, fmt.Errorf("find run cgroups: %w", err)
	}
	if r.Cgroups, err = findCgroups(cg, cgRE); err != nil {
		return r, nil, err
	}
	if len(r.Namespaces) > 0 || len(r.Cgroups) > 0 {
		pids, err := procsOf(r.Cgroups, inodes)
		if err != nil {
			return r, nil, err
		}
		for _, pid := range pids {
			comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
			r.Processes = append(r.Processes, Proc{PID: pid, Command: strings.TrimSpace(string(comm))})
		}
	}
	return r, inodes, nil
}

// findNamespaces adds the matching /run/netns entries to r and returns the
// inodes of those that are mounted namespaces.
func findNamespaces(re *regexp.Regexp, r *Removed) (map[uint64]bool, error) {
	inodes := map[uint64]bool{}
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return inodes, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list network namespaces: %w", err)
	}
	var nsfs unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &nsfs); err != nil {
		return nil, fmt.Errorf("stat own network namespace: %w", err)
	}
	for _, e := range entries {
		if !re.MatchString(e.Name()) {
			continue
		}
		r.Namespaces = append(r.Namespaces, e.Name())
		var st unix.Stat_t
		if unix.Stat(filepath.Join(netnsDir, e.Name()), &st) == nil && st.Dev == nsfs.Dev {
			inodes[st.Ino] = true
		}
	}
	return inodes, nil
}

// findCgroups returns the matching run cgroups: directly under the cgroup2
// mount, and anywhere in the v1 memory and cpuacct hierarchies (a run nests
// them under its own process's group).
func findCgroups(cg *runCgroups, re *regexp.Regexp) ([]string, error) {
	var out []string
	entries, err := os.ReadDir(cg.mounts.V2)
	if err != nil {
		return nil, fmt.Errorf("list cgroups: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && re.MatchString(e.Name()) {
			out = append(out, filepath.Join(cg.mounts.V2, e.Name()))
		}
	}
	for _, m := range cg.v1Mounts() {
		err := filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return nil // a group vanished while we walked
			case !d.IsDir():
				return nil
			case re.MatchString(d.Name()):
				out = append(out, p)
				return filepath.SkipDir
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list cgroups in %s: %w", m, err)
		}
	}
	return out, nil
}

// procsOf returns the processes, other than this one, in the cgroup trees
// or in the namespaces with the given inodes.
func procsOf(cgroups []string, inodes map[uint64]bool) ([]int, error) {
	self := os.Getpid()
	seen := map[int]bool{}
	for _, dir := range subdirs(cgroups) {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue // removed meanwhile
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != self {
				seen[pid] = true
			}
		}
	}
	if len(inodes) > 0 {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return nil, fmt.Errorf("list processes: %w", err)
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			// Exited processes have no namespace link and are skipped.
			link, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/net"))
			if err != nil {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "net:["), "]"), 10, 64)
			if err == nil && inodes[ino] {
				seen[pid] = true
			}
		}
	}
	pids := make([]int, 0, len(seen))
	for pid := range seen {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids, nil
}

// killAll kills everything in the cgroup trees and namespaces and waits
// until none of it runs: cgroup.kill where cgroup v2 has it, SIGKILL for
// the rest, repeated for processes forked meanwhile.
func killAll(ctx context.Context, cgroups []string, inodes map[uint64]bool) error {
	for _, dir := range cgroups {
		// v1 groups have no cgroup.kill; O_CREATE would fail with EACCES.
		f, err := os.OpenFile(filepath.Join(dir, "cgroup.kill"), os.O_WRONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			_, err = f.WriteString("1")
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("kill cgroup %s: %w", dir, err)
		}
	}
	deadline := time.Now().Add(killTimeout)
	for backoff := 500 * time.Microsecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		pids, err := procsOf(cgroups, inodes)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL) // gone already is fine
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill processes: %v still running after %s", pids, killTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kill processes: %w", ctx.Err())
		case <-time.After(backoff):
		}
	}
}

// removeCgroups removes the cgroup trees deepest level first, each level
// in parallel. The kernel may report a group busy for a moment after its
// last process exited, so busy groups are retried.
func removeCgroups(ctx context.Context, roots []string) error {
	dirs := subdirs(roots)
	depth := func(p string) int { return strings.Count(p, "/") }
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(depth(b), depth(a)) })
	for len(dirs) > 0 {
		d := depth(dirs[0])
		n := 1
		for n < len(dirs) && depth(dirs[n]) == d {
			n++
		}
		level := dirs[:n]
		dirs = dirs[n:]
		if err := forEach(len(level), func(i int) error { return rmdir(ctx, level[i]) }); err != nil {
			return err
		}
	}
	return nil
}

func rmdir(ctx context.Context, dir string) error {
	deadline := time.Now().Add(killTimeout)
	for backoff := 500 * time.Microsecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			return nil
		case !errors.Is(err, unix.EBUSY) || time.Now().After(deadline):
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		case <-time.After(backoff):
		}
	}
}

// subdirs returns the roots and every directory below them.
func subdirs(roots []string) []string {
	var out []string
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// forEach runs fn for 0..n-1 on at most teardownWorkers goroutines and
// joins the errors.
func forEach(n int, fn func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, teardownWorkers)
	)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
