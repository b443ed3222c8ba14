package costagent

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
	"syscall"
	"time"

	"github.com/meshbench/meshbench/internal/hostfs"
)

// errNoAccounting is the sampling error when a cgroup's memory is accounted
// neither by the cgroup v2 memory controller nor by a v1 hierarchy.
var errNoAccounting = errors.New("no cgroup controller accounts memory")

// errCgroupNS is returned when /proc/<pid>/cgroup shows paths relative to
// a cgroup namespace the agent is not at the root of.
var errCgroupNS = errors.New("cgroup paths are outside the agent's cgroup namespace: run the node agent in the node's cgroup namespace")

// group accumulates the samples of one named group of cgroups.
type group struct {
	cgroups []string
	samples int
	pssSum  float64
	pssPeak float64
	ussSum  float64
	memSum  float64
	procs   int
	// cpu holds the CPU counters found so far, by file: the v2 cgroups'
	// cpu.stat or the v1 cpuacct groups' cpuacct.usage.
	cpu map[string]*counter
}

// counter is a CPU time counter's first and latest reading.
type counter struct{ first, last time.Duration }

// sources are the files one sample reads for a group, and its processes.
type sources struct {
	pids []int
	// memory files hold a byte count: v2 memory.current or v1
	// memory.usage_in_bytes.
	memory []string
	// cpu files are v2 cpu.stat or v1 cpuacct.usage.
	cpu []string
}

// sample records the group's PSS and charged memory, and reads its CPU
// counters, including those of v1 groups it has not seen before.
func (g *group) sample(cg hostfs.Cgroups) error {
	src, err := resolve(cg, g.cgroups)
	if err != nil {
		return err
	}
	var pss, uss float64
	n := 0
	for _, pid := range src.pids {
		if idle(pid) {
			continue
		}
		m, err := readMemory(pid)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // exited between listing and reading
		}
		if err != nil {
			// Not a zero: a refused read (the agent lacks
			// CAP_SYS_PTRACE) would report no memory at all.
			return err
		}
		pss += float64(m.pss)
		uss += float64(m.uss)
		n++
	}
	var mem float64
	for _, f := range src.memory {
		v, err := readUint(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // removed since it was listed
		case err != nil:
			return fmt.Errorf("read cgroup memory: %w", err)
		}
		mem += float64(v)
	}
	for _, f := range src.cpu {
		if _, ok := g.cpu[f]; !ok {
			g.cpu[f] = nil
		}
	}
	if err := g.readCPU(); err != nil {
		return err
	}
	g.samples++
	g.pssSum += pss
	g.pssPeak = max(g.pssPeak, pss)
	g.ussSum += uss
	g.memSum += mem
	g.procs = max(g.procs, n)
	return nil
}

// readCPU reads every CPU counter the group has found.
func (g *group) readCPU() error {
	for f, c := range g.cpu {
		d, err := readCPU(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // removed since it was found
		case err != nil:
			return fmt.Errorf("read cgroup cpu usage: %w", err)
		case c == nil:
			g.cpu[f] = &counter{first: d, last: d}
		default:
			c.last = d
		}
	}
	return nil
}

func (g *group) cost() Cost {
	c := Cost{PSSPeakBytes: g.pssPeak, Procs: g.procs}
	if g.samples > 0 {
		c.PSSMeanBytes = g.pssSum / float64(g.samples)
		c.USSMeanBytes = g.ussSum / float64(g.samples)
		c.CgroupMemoryMeanBytes = g.memSum / float64(g.samples)
	}
	var cpu time.Duration
	for _, ctr := range g.cpu {
		if ctr != nil {
			cpu += ctr.last - ctr.first
		}
	}
	c.CPUSeconds = cpu.Seconds()
	return c
}

// resolve lists the processes of cgroups (v2 paths relative to the mount)
// and their descendants, and the files that account their memory and CPU.
// Where memory or CPU is a v2 controller of a cgroup, its own v2 files
// count (hierarchically). Otherwise each process's v1 group, from
// /proc/<pid>/cgroup, stands for the cgroup: v1 groups need not sit where
// the v2 cgroup does (the netns provider nests them under its own v1
// group), and v1 counters are hierarchical too, so only the outermost of
// the groups found is read.
func resolve(cg hostfs.Cgroups, cgroups []string) (sources, error) {
	var src sources
	seen := map[int]bool{}
	var v1Mem, v1CPU []string
	for _, rel := range cgroups {
		dir := cg.Dir(rel)
		pids, err := listProcs(dir)
		if err != nil {
			return src, err
		}
		ctls, err := controllers(dir)
		if err != nil {
			return src, err
		}
		v2Mem := slices.Contains(ctls, "memory")
		// cpu.stat's usage_usec exists without the cpu controller too.
		v2CPU := slices.Contains(ctls, "cpu") || cg.CPUAcct == ""
		if !v2Mem && cg.Memory == "" {
			return src, fmt.Errorf("cgroup %s: %w", rel, errNoAccounting)
		}
		if v2Mem {
			src.memory = append(src.memory, filepath.Join(dir, "memory.current"))
		}
		if v2CPU {
			src.cpu = append(src.cpu, filepath.Join(dir, "cpu.stat"))
		}
		for _, pid := range pids {
			if seen[pid] {
				continue
			}
			seen[pid] = true
			src.pids = append(src.pids, pid)
			if v2Mem && v2CPU {
				continue
			}
			v2, v1, err := procCgroups(pid)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				continue // exited
			case err != nil:
				return src, err
			}
			if !v2Mem {
				g, err := v1Group(rel, v2, v1["memory"])
				if err != nil {
					return src, fmt.Errorf("process %d: %w", pid, err)
				}
				if g != "" {
					v1Mem = append(v1Mem, g)
				}
			}
			if !v2CPU {
				g, err := v1Group(rel, v2, v1["cpuacct"])
				if err != nil {
					return src, fmt.Errorf("process %d: %w", pid, err)
				}
				if g != "" {
					v1CPU = append(v1CPU, g)
				}
			}
		}
	}
	for _, g := range outermost(v1Mem) {
		src.memory = append(src.memory, filepath.Join(cg.Memory, g, "memory.usage_in_bytes"))
	}
	for _, g := range outermost(v1CPU) {
		src.cpu = append(src.cpu, filepath.Join(cg.CPUAcct, g, "cpuacct.usage"))
	}
	return src, nil
}

// v1Group returns the v1 group that stands for the v2 cgroup rel, given a
// process of rel in v2 cgroup v2 and v1 group v1 (paths as in
// /proc/<pid>/cgroup): v1 less the part of v2 below rel where the two
// hierarchies mirror each other, v1 itself otherwise. It returns "" where
// the process has no v1 group of its own (absent, or the root, which stands
// for the whole node).
func v1Group(rel, v2, v1 string) (string, error) {
	if strings.HasPrefix(v1, "/..") || strings.HasPrefix(v2, "/..") {
		return "", errCgroupNS
	}
	if v1 == "" || v1 == "/" {
		return "", nil
	}
	if below, ok := strings.CutPrefix(v2, "/"+rel); ok && strings.HasPrefix(below, "/") {
		if g, ok := strings.CutSuffix(v1, below); ok && g != "" {
			return g, nil
		}
	}
	return v1, nil
}

// outermost returns the distinct groups that lie in none of the others.
func outermost(groups []string) []string {
	slices.Sort(groups)
	groups = slices.Compact(groups)
	var out []string
	for _, g := range groups {
		nested := slices.ContainsFunc(groups, func(h string) bool {
			return strings.HasPrefix(g, h+"/")
		})
		if !nested {
			out = append(out, g)
		}
	}
	return out
}

// listProcs lists the processes in the cgroup v2 directory dir and its
// descendants; a cgroup removed meanwhile has none.
func listProcs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		f, err := os.Open(filepath.Join(path, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
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
		return nil, fmt.Errorf("list processes of cgroup %s: %w", dir, err)
	}
	return pids, nil
}

// controllers lists the v2 controllers enabled in the cgroup at dir.
func controllers(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read controllers: %w", err)
	}
	return strings.Fields(string(b)), nil
}

// procCgroups reads /proc/<pid>/cgroup: the process's v2 cgroup and its
// v1 group per controller.
func procCgroups(pid int) (v2 string, v1 map[string]string, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", nil, fmt.Errorf("read cgroups of process %d: %w", pid, err)
	}
	v2, v1 = hostfs.ParseProcCgroup(string(b))
	return v2, v1, nil
}

// memory is what a process's pages cost, in bytes.
type memory struct {
	// pss is the proportional set size: its private memory plus its
	// share of pages it shares (the binary's text, for a hundred sidecars
	// of one binary).
	pss uint64
	// uss is the unique set size: its private pages only, what ending it
	// would free.
	uss uint64
}

// IdleRole is the agent role of the process that keeps a kube pod's
// container up for the processes started in it (kubenode.PauseRole). It is
// no part of what runs there, so a group's processes and memory leave it
// out; its cgroup's charged memory and CPU, which cannot, are small.
const IdleRole = "pause"

// idle reports whether the process pid is a container's idle process: its
// command line runs the agent role IdleRole. A process gone or unreadable
// is not idle; reading its memory says what became of it.
func idle(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "agent" && args[i+1] == IdleRole {
			return true
		}
	}
	return false
}

// readMemory reads a process's PSS and USS from /proc/<pid>/smaps_rollup.
func readMemory(pid int) (memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return memory{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	defer f.Close()
	var m memory
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var into *uint64
		switch key {
		case "Pss":
			into = &m.pss
		case "Private_Clean", "Private_Dirty":
			into = &m.uss
		default:
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("parse %s of process %d: %w", key, pid, err)
		}
		*into += kb * 1024
		seen++
	}
	if err := sc.Err(); err != nil {
		return memory{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	if seen == 0 {
		// No memory map: a zombie, or gone since it was opened.
		return memory{}, fmt.Errorf("read memory of process %d: %w", pid, fs.ErrNotExist)
	}
	if seen < 3 {
		return memory{}, fmt.Errorf("read memory of process %d: smaps_rollup lacks Pss, Private_Clean or Private_Dirty", pid)
	}
	return m, nil
}

// readCPU reads a CPU time counter: usage_usec of a v2 cpu.stat, or a v1
// cpuacct.usage in nanoseconds.
func readCPU(file string) (time.Duration, error) {
	if filepath.Base(file) != "cpu.stat" {
		ns, err := readUint(file)
		return time.Duration(ns), err
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "usage_usec "); ok {
			usec, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s: %w", file, err)
			}
			return time.Duration(usec) * time.Microsecond, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no usage_usec", file)
}

func readUint(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", file, err)
	}
	return v, nil
}
