package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/montanaflynn/stats"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/results"
)

// CgroupReader is the optional ability of clusters whose processes live in
// cgroups the runner can read (paths are v2, relative to the cgroup2 mount).
type CgroupReader interface {
	// CgroupPids lists the processes in a cgroup and its descendants.
	CgroupPids(cgroup string) ([]int, error)
	// CgroupCPU is the CPU time the cgroup's processes have used.
	CgroupCPU(cgroup string) (time.Duration, error)
	// CgroupMemory is the cgroup's memory charge in bytes.
	CgroupMemory(cgroup string) (uint64, error)
}

// sampleEvery is the cost sampler's period. Reading smaps_rollup of a
// hundred proxies costs a few milliseconds; the runner is in no node.
const sampleEvery = 250 * time.Millisecond

// costGroup is one node's datapath or application cgroups.
type costGroup struct {
	node     string
	datapath bool
	cgroups  []string
}

// costSampler measures, during the measure phase, each node's datapath
// processes (summed) apart from its application processes.
type costSampler struct {
	r      CgroupReader
	groups []costGroup
	// bpf reads the datapath's BPF maps and programs per node, if it has any.
	bpf datapaths.BPFCosted

	pss   map[int][]float64 // per group index: PSS sums per sample
	cgMem map[int][]float64
	procs map[int]int
	cpu0  map[int]time.Duration
	cpu1  map[int]time.Duration
}

// newCostSampler returns nil when the cluster cannot be read this way.
func newCostSampler(c clusters.Cluster, dp datapaths.Datapath, appCgroups map[string][]string) *costSampler {
	r, ok := c.(CgroupReader)
	if !ok {
		return nil
	}
	s := &costSampler{r: r}
	s.bpf, _ = dp.(datapaths.BPFCosted)
	byNode := map[string][]string{}
	if costed, ok := dp.(datapaths.Costed); ok {
		for _, comp := range costed.Components() {
			byNode[comp.Node] = append(byNode[comp.Node], comp.Cgroup)
		}
	}
	for _, n := range c.Topology().Nodes {
		s.groups = append(s.groups,
			costGroup{node: n.Name, datapath: true, cgroups: byNode[n.Name]},
			costGroup{node: n.Name, cgroups: appCgroups[n.Name]})
	}
	return s
}

// run samples until ctx ends.
func (s *costSampler) run(ctx context.Context) error {
	s.pss, s.cgMem, s.procs = map[int][]float64{}, map[int][]float64{}, map[int]int{}
	var err error
	if s.cpu0, err = s.cpu(); err != nil {
		return err
	}
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		if err := s.sample(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			s.cpu1, err = s.cpu()
			return err
		case <-t.C:
		}
	}
}

func (s *costSampler) cpu() (map[int]time.Duration, error) {
	out := map[int]time.Duration{}
	for i, g := range s.groups {
		for _, cg := range g.cgroups {
			d, err := s.r.CgroupCPU(cg)
			if err != nil {
				return nil, err
			}
			out[i] += d
		}
	}
	return out, nil
}

func (s *costSampler) sample() error {
	for i, g := range s.groups {
		var pss, mem float64
		n := 0
		for _, cg := range g.cgroups {
			pids, err := s.r.CgroupPids(cg)
			if err != nil {
				return err
			}
			for _, pid := range pids {
				p, err := PSS(pid)
				if err != nil {
					continue // exited between listing and reading
				}
				pss += float64(p)
				n++
			}
			m, err := s.r.CgroupMemory(cg)
			if err != nil {
				return err
			}
			mem += float64(m)
		}
		s.pss[i] = append(s.pss[i], pss)
		s.cgMem[i] = append(s.cgMem[i], mem)
		s.procs[i] = max(s.procs[i], n)
	}
	return nil
}

// costs turns the samples into per-node figures; requests is how many
// requests the whole cluster served in the window. A datapath's BPF memory
// (maps and programs, as the kernel charges them) counts as datapath memory.
func (s *costSampler) costs(requests uint64) ([]results.NodeCost, error) {
	bpf := map[string]uint64{}
	if s.bpf != nil {
		var err error
		if bpf, err = s.bpf.BPFMemoryBytes(); err != nil {
			return nil, err
		}
	}
	var out []results.NodeCost
	for i := 0; i < len(s.groups); i += 2 {
		dp, app := i, i+1
		nc := results.NodeCost{
			Node:                          s.groups[dp].node,
			Proxies:                       s.procs[dp],
			DatapathMemoryBytesMean:       mean(s.pss[dp]),
			DatapathMemoryBytesPeak:       peak(s.pss[dp]),
			DatapathCgroupMemoryBytesMean: mean(s.cgMem[dp]),
			DatapathCPUSeconds:            (s.cpu1[dp] - s.cpu0[dp]).Seconds(),
			AppMemoryBytesMean:            mean(s.pss[app]),
			AppCPUSeconds:                 (s.cpu1[app] - s.cpu0[app]).Seconds(),
		}
		if b := float64(bpf[nc.Node]); b > 0 {
			nc.BPFMemoryBytes = b
			nc.DatapathMemoryBytesMean += b
			nc.DatapathMemoryBytesPeak += b
		}
		if requests > 0 {
			nc.DatapathCPUPer1kRequests = nc.DatapathCPUSeconds / (float64(requests) / 1000)
		}
		out = append(out, nc)
	}
	return out, nil
}

func mean(v []float64) float64 {
	m, _ := stats.Mean(v)
	return m
}

func peak(v []float64) float64 {
	m, _ := stats.Max(v)
	return m
}

// PSS returns a process's proportional set size in bytes: its private
// memory plus its share of pages it shares (the binary's text, for a
// hundred sidecars of one binary), from /proc/<pid>/smaps_rollup.
func PSS(pid int) (uint64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, fmt.Errorf("read pss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Pss:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse pss of %d: %w", pid, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read pss of %d: %w", pid, err)
	}
	return 0, fmt.Errorf("read pss of %d: no Pss line", pid)
}
