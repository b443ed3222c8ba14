package netns

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/hostfs"
)

// ErrNoAccounting is returned by the cgroup readers when neither a v1 hierarchy
// nor cgroup v2 accounts the resource asked for.
var ErrNoAccounting = errors.New("no cgroup controller accounts this resource")

// runCgroups locates the run's cgroups. Every cgroup has a path relative to
// the hierarchies (as in clusters.Node.Cgroup and clusters.Pod.Cgroup,
// "meshbench-<runid>/<node>/<pod>"): in cgroup v2 it lies directly under the
// cgroup2 mount; where memory and cpuacct are cgroup v1 hierarchies, the
// matching v1 group lies under the group of the current process, so that
// limits set on that group still apply. The mounts come from
// hostfs.DetectCgroupsIn("/"): the runner's own host, never a container's view.
type runCgroups struct {
	mounts hostfs.Cgroups
	// memory and cpuacct are the v1 base directories: the mount point joined
	// with the current process's group; empty without such a hierarchy.
	memory, cpuacct string
}

// detectCgroups finds the cgroup mounts and the current process's v1
// memory and cpuacct groups.
func detectCgroups() (*runCgroups, error) {
	mounts, err := hostfs.DetectCgroupsIn("/")
	if err != nil {
		return nil, fmt.Errorf("detect cgroups: %w", err)
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("detect cgroups: %w", err)
	}
	return newRunCgroups(mounts, string(self)), nil
}

func newRunCgroups(mounts hostfs.Cgroups, selfCgroup string) *runCgroups {
	c := &runCgroups{mounts: mounts}
	c.memory, c.cpuacct = mounts.V1Groups(selfCgroup)
	return c
}

// v1Mounts returns the mount points of the v1 hierarchies the run uses,
// where Cleanup looks for groups of runs started by other processes.
func (c *runCgroups) v1Mounts() []string {
	var out []string
	for _, m := range []struct{ base, point string }{{c.memory, c.mounts.Memory}, {c.cpuacct, c.mounts.CPUAcct}} {
		if m.base != "" && !slices.Contains(out, m.point) {
			out = append(out, m.point)
		}
	}
	return out
}

// Dir returns the absolute cgroup v2 directory of rel, the directory to
// attach cgroup BPF programs to.
func (c *runCgroups) Dir(rel string) string { return c.mounts.Dir(rel) }

// Memory returns the memory charged to rel, in bytes: memory.usage_in_bytes
// of the v1 memory group, or memory.current where memory is a cgroup v2
// controller. It returns ErrNoAccounting when neither exists.
func (c *runCgroups) Memory(rel string) (uint64, error) {
	file := filepath.Join(c.Dir(rel), "memory.current")
	if c.memory != "" {
		file = filepath.Join(c.memory, rel, "memory.usage_in_bytes")
	}
	v, err := readUint(file)
	if err != nil {
		return 0, fmt.Errorf("read memory of cgroup %s: %w", rel, accountingErr(err))
	}
	return v, nil
}

// CPU returns the CPU time used by rel and its children: cpuacct.usage of
// the v1 cpuacct group, or usage_usec of cgroup v2's cpu.stat.
func (c *runCgroups) CPU(rel string) (time.Duration, error) {
	if c.cpuacct != "" {
		ns, err := readUint(filepath.Join(c.cpuacct, rel, "cpuacct.usage"))
		if err != nil {
			return 0, fmt.Errorf("read cpu usage of cgroup %s: %w", rel, accountingErr(err))
		}
		return time.Duration(ns), nil
	}
	stat, err := readKeyed(filepath.Join(c.Dir(rel), "cpu.stat"))
	if err != nil {
		return 0, fmt.Errorf("read cpu usage of cgroup %s: %w", rel, accountingErr(err))
	}
	usec, ok := stat["usage_usec"]
	if !ok {
		return 0, fmt.Errorf("read cpu usage of cgroup %s: %w", rel, ErrNoAccounting)
	}
	return time.Duration(usec) * time.Microsecond, nil
}

func accountingErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrNoAccounting, err)
	}
	return err
}

// bases returns the directories under which rel exists in each hierarchy
// the run uses: v2 first, then the v1 memory and cpuacct bases.
func (c *runCgroups) bases() []string {
	out := []string{c.mounts.V2}
	for _, b := range []string{c.memory, c.cpuacct} {
		if b != "" && !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// mkdir creates rel in every hierarchy; its parent must exist.
func (c *runCgroups) mkdir(rel string) error {
	for _, b := range c.bases() {
		if err := os.Mkdir(filepath.Join(b, rel), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup: %w", err)
		}
	}
	return nil
}

// mkdirAll creates rel and its missing parents in every hierarchy.
func (c *runCgroups) mkdirAll(rel string) error {
	for _, b := range c.bases() {
		if err := os.MkdirAll(filepath.Join(b, rel), 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
	}
	return nil
}

// delegateMemory lets rel's children account memory in cgroup v2, where
// memory is a v2 controller available to rel; elsewhere it does nothing.
func (c *runCgroups) delegateMemory(rel string) error {
	if c.memory != "" {
		return nil
	}
	ctls, err := os.ReadFile(filepath.Join(c.Dir(rel), "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read controllers of cgroup %s: %w", rel, err)
	}
	if !slices.Contains(strings.Fields(string(ctls)), "memory") {
		return nil
	}
	if err := os.WriteFile(filepath.Join(c.Dir(rel), "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
		return fmt.Errorf("enable memory controller for children of cgroup %s: %w", rel, err)
	}
	return nil
}

// openV2 opens rel's v2 directory for clone(2)'s CLONE_INTO_CGROUP.
func (c *runCgroups) openV2(rel string) (int, error) {
	fd, err := unix.Open(c.Dir(rel), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open cgroup %s: %w", rel, err)
	}
	return fd, nil
}

// moveThread moves the calling thread, which must be locked, into rel's v1
// memory and cpuacct groups, or back to the process's own groups when rel
// is "". v1 groups hold threads, and a child forked by the thread starts
// in the thread's groups: charged to the right group from its first page.
func (c *runCgroups) moveThread(rel string) error {
	tid := []byte(strconv.Itoa(unix.Gettid()))
	for _, b := range c.bases()[1:] {
		if err := os.WriteFile(filepath.Join(b, rel, "tasks"), tid, 0); err != nil {
			return fmt.Errorf("move thread into cgroup %s: %w", filepath.Join(b, rel), err)
		}
	}
	return nil
}

func readUint(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// readKeyed reads a flat keyed file ("key value" per line).
func readKeyed(file string) (map[string]uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			continue
		}
		out[k] = n
	}
	return out, sc.Err()
}
