package netns

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The Cluster reads its own cgroups for the runner's per-node cost sampler
// (bench.CgroupReader). Paths are v2 cgroups relative to the mount, as in
// clusters.Pod.Cgroup.

// CgroupPids lists the processes in a cgroup and its descendants.
func (c *Cluster) CgroupPids(rel string) ([]int, error) {
	var pids []int
	root := c.cg.Dir(rel)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		f, err := os.Open(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			pid, err := strconv.Atoi(sc.Text())
			if err != nil {
				return fmt.Errorf("parse %s: %w", f.Name(), err)
			}
			pids = append(pids, pid)
		}
		return sc.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list processes of cgroup %s: %w", rel, err)
	}
	return pids, nil
}

// CgroupCPU is the CPU time the cgroup's processes used.
func (c *Cluster) CgroupCPU(rel string) (time.Duration, error) { return c.cg.CPU(rel) }

// CgroupMemory is the memory charged to the cgroup.
func (c *Cluster) CgroupMemory(rel string) (uint64, error) { return c.cg.Memory(rel) }
