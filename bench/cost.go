package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/internal/costagent"
	"github.com/meshbench/meshbench/results"
)

// The cost agents' group names.
const (
	datapathGroup = "datapath"
	appGroup      = "app"
)

// costSampler measures, during the measure phase, each node's datapath
// processes (summed) apart from its application processes, through a cost
// agent (internal/costagent) on every node: on a real cluster only a node
// reaches its processes and cgroups.
type costSampler struct {
	nodes  []string
	agents []CostAgent // by node index; nil where none started
	// bpf reads the datapath's BPF maps and programs per node, if it has any.
	bpf datapaths.BPFCosted
}

// startCostSampler starts a cost agent on every node, then has them all
// start sampling; appCgroups are the workloads' cgroups per node.
func startCostSampler(ctx context.Context, agents Agents, c clusters.Cluster, dp datapaths.Datapath, appCgroups map[string][]string) (*costSampler, error) {
	s := &costSampler{}
	s.bpf, _ = dp.(datapaths.BPFCosted)
	byNode := map[string][]string{}
	if costed, ok := dp.(datapaths.Costed); ok {
		for _, comp := range costed.Components() {
			byNode[comp.Node] = append(byNode[comp.Node], comp.Cgroup)
		}
	}
	for _, n := range c.Topology().Nodes {
		s.nodes = append(s.nodes, n.Name)
	}
	s.agents = make([]CostAgent, len(s.nodes))
	err := s.each(func(i int, _ CostAgent) error {
		a, err := agents.StartCost(ctx, c, s.nodes[i])
		if err != nil {
			return err
		}
		s.agents[i] = a
		return nil
	})
	if err == nil {
		// Started apart from the processes, so that the nodes' sampling
		// windows line up.
		err = s.each(func(i int, a CostAgent) error {
			groups := map[string][]string{datapathGroup: byNode[s.nodes[i]], appGroup: appCgroups[s.nodes[i]]}
			if err := a.Start(ctx, groups); err != nil {
				return fmt.Errorf("cost agent on node %s: %w", s.nodes[i], err)
			}
			return nil
		})
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// idleFootprint samples the datapath's memory on every node once (a cost
// agent samples as it starts), after install and before any request: what
// its processes and BPF objects cost doing nothing.
func (r *Runner) idleFootprint(ctx context.Context, cr *caseRun) (map[string]float64, error) {
	s, err := startCostSampler(ctx, r.opts.Agents, cr.cluster, cr.dp, cr.apps)
	if err != nil {
		return nil, err
	}
	costs, err := s.stop(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	idle := map[string]float64{}
	for _, nc := range costs {
		idle[nc.Node] = nc.DatapathMemoryBytesMean
	}
	return idle, nil
}

// each runs f for every node at once and joins their errors.
func (s *costSampler) each(f func(i int, a CostAgent) error) error {
	errs := make([]error, len(s.nodes))
	var wg sync.WaitGroup
	for i := range s.nodes {
		wg.Go(func() { errs[i] = f(i, s.agents[i]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// close stops the agents.
func (s *costSampler) close() {
	var wg sync.WaitGroup
	for _, a := range s.agents {
		if a != nil {
			wg.Go(a.Close)
		}
	}
	wg.Wait()
}

// stop ends the sampling and the agents, and turns the samples into
// per-node figures; requests is how many requests the whole cluster served
// in the window, bytes how many bytes its streams moved. A datapath's BPF memory (maps and programs, as the kernel
// charges them) counts as datapath memory.
func (s *costSampler) stop(ctx context.Context, requests, bytes uint64) ([]results.NodeCost, error) {
	defer s.close()
	got := make([]map[string]costagent.Cost, len(s.nodes))
	err := s.each(func(i int, a CostAgent) error {
		var err error
		if got[i], err = a.Stop(ctx); err != nil {
			return fmt.Errorf("cost agent on node %s: %w", s.nodes[i], err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	bpf := map[string]uint64{}
	if s.bpf != nil {
		if bpf, err = s.bpf.BPFMemoryBytes(ctx); err != nil {
			return nil, err
		}
	}
	var out []results.NodeCost
	for i, node := range s.nodes {
		dp, app := got[i][datapathGroup], got[i][appGroup]
		nc := results.NodeCost{
			Node:                          node,
			Proxies:                       dp.Procs,
			DatapathMemoryBytesMean:       dp.PSSMeanBytes,
			DatapathMemoryBytesPeak:       dp.PSSPeakBytes,
			DatapathUSSBytesMean:          dp.USSMeanBytes,
			DatapathCgroupMemoryBytesMean: dp.CgroupMemoryMeanBytes,
			DatapathCPUSeconds:            dp.CPUSeconds,
			AppMemoryBytesMean:            app.PSSMeanBytes,
			AppCPUSeconds:                 app.CPUSeconds,
		}
		if b := float64(bpf[node]); b > 0 {
			nc.BPFMemoryBytes = b
			nc.DatapathMemoryBytesMean += b
			nc.DatapathMemoryBytesPeak += b
		}
		if requests > 0 {
			nc.DatapathCPUPer1kRequests = nc.DatapathCPUSeconds / (float64(requests) / 1000)
		}
		if bytes > 0 {
			nc.DatapathCPUPerGiB = nc.DatapathCPUSeconds / (float64(bytes) / results.GiB)
		}
		out = append(out, nc)
	}
	return out, nil
}

// mergeCosts joins the node costs of windows of repetitions of equal
// length into the case's: CPU seconds add up and are divided by all the
// requests, means are averaged, peaks and proxy counts are the largest.
func mergeCosts(windows [][]results.NodeCost, requests, bytes uint64) []results.NodeCost {
	if len(windows) == 0 {
		return nil
	}
	out := slices.Clone(windows[0])
	n := float64(len(windows))
	for i := range out {
		m := &out[i]
		for _, w := range windows[1:] {
			c := w[i]
			m.Proxies = max(m.Proxies, c.Proxies)
			m.DatapathMemoryBytesMean += c.DatapathMemoryBytesMean
			m.DatapathMemoryBytesPeak = max(m.DatapathMemoryBytesPeak, c.DatapathMemoryBytesPeak)
			m.DatapathUSSBytesMean += c.DatapathUSSBytesMean
			m.DatapathCgroupMemoryBytesMean += c.DatapathCgroupMemoryBytesMean
			m.DatapathCPUSeconds += c.DatapathCPUSeconds
			m.AppMemoryBytesMean += c.AppMemoryBytesMean
			m.AppCPUSeconds += c.AppCPUSeconds
			m.BPFMemoryBytes += c.BPFMemoryBytes
		}
		m.DatapathMemoryBytesMean /= n
		m.DatapathUSSBytesMean /= n
		m.DatapathCgroupMemoryBytesMean /= n
		m.AppMemoryBytesMean /= n
		m.BPFMemoryBytes /= n
		m.DatapathCPUPer1kRequests, m.DatapathCPUPerGiB = 0, 0
		if requests > 0 {
			m.DatapathCPUPer1kRequests = m.DatapathCPUSeconds / (float64(requests) / 1000)
		}
		if bytes > 0 {
			m.DatapathCPUPerGiB = m.DatapathCPUSeconds / (float64(bytes) / results.GiB)
		}
	}
	return out
}
