package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// errNoProbe marks a packet-path probe this machine or provider cannot run.
var errNoProbe = errors.New("packet-path probe unavailable")

// nsInfo names a namespace and its devices for the rendered path.
type nsInfo struct {
	name    string
	devices map[uint32]string
}

// probePath runs the packet-path probe after the latency phase: with the
// tracepoints attached it sends ProbeRequests requests one after another on
// the load agent's warm keep-alive connections, counts the stack traversals
// per request, then traces the ordered path of one more request.
func (r *Runner) probePath(ctx context.Context, cr *caseRun) (*results.Path, error) {
	if topo := cr.cluster.Topology(); len(topo.Pods) == 0 || topo.Pods[0].NetNS == "" {
		return nil, fmt.Errorf("%w: the cluster provider does not expose its network namespaces to the runner", errNoProbe)
	}
	names, err := namespaces(cr.cluster.Topology())
	if err != nil {
		return nil, err
	}
	inodes := make([]uint64, 0, len(names))
	for ino := range names {
		inodes = append(inodes, ino)
	}
	probe, err := pathprobe.Load(inodes)
	if err != nil {
		return nil, fmt.Errorf("load path probe: %w", err)
	}
	defer probe.Close()
	if err := probe.Attach(); err != nil {
		return nil, err
	}
	client := cr.clients[0]
	// One request first so that every connection the probe uses is open
	// and warm whatever the datapath's pools did since the measurement.
	if err := r.sequential(ctx, client, 1); err != nil {
		return nil, err
	}
	if err := probe.Reset(); err != nil {
		return nil, err
	}
	before, err := pathCounters(ctx, cr.dp)
	if err != nil {
		return nil, err
	}
	n := cr.c.ProbeRequests
	if err := r.sequential(ctx, client, n); err != nil {
		return nil, err
	}
	counts, err := probe.Counts()
	if err != nil {
		return nil, err
	}
	after, err := pathCounters(ctx, cr.dp)
	if err != nil {
		return nil, err
	}
	if err := probe.StartTrace(); err != nil {
		return nil, err
	}
	if err := r.sequential(ctx, client, 1); err != nil {
		return nil, err
	}
	events, err := probe.StopTrace()
	if err != nil {
		return nil, err
	}

	per := func(v uint64) float64 { return round2(float64(v) / float64(n)) }
	var tx, rx, sock, route uint64
	for k, v := range counts {
		switch k.Event {
		case pathprobe.Transmit:
			tx += v
		case pathprobe.Receive:
			rx += v
		case pathprobe.SocketSend, pathprobe.SocketRecv:
			sock += v
		case pathprobe.RouteLookup:
			route += v
		}
	}
	return &results.Path{
		Requests:        n,
		HopsPerRequest:  per(tx + rx),
		Transmits:       per(tx),
		Receives:        per(rx),
		SocketCrossings: per(sock),
		RouteLookups:    per(route),
		NetfilterHits:   per(after.NetfilterHits - before.NetfilterHits),
		Redirects:       per(after.Redirects - before.Redirects),
		Trace:           renderTrace(events, names),
	}, nil
}

// sequential sends n requests one after another (closed loop).
func (r *Runner) sequential(ctx context.Context, client *agentctl.Agent, n int) error {
	var failed int
	var first string
	_, err := client.Attack(ctx, wire.Attack{Tag: "probe", Count: n}, func(s []wire.Sample) {
		for _, x := range s {
			if x.Error != "" || x.Code < 200 || x.Code > 299 {
				if failed == 0 {
					first = fmt.Sprintf("code %d %s", x.Code, x.Error)
				}
				failed++
			}
		}
	})
	if err != nil {
		return fmt.Errorf("path probe requests: %w", err)
	}
	if failed > 0 {
		return fmt.Errorf("path probe: %d of %d requests failed (first: %s)", failed, n, first)
	}
	return nil
}

func pathCounters(ctx context.Context, dp datapaths.Datapath) (datapaths.PathCounters, error) {
	c, ok := dp.(datapaths.Counted)
	if !ok {
		return datapaths.PathCounters{}, nil
	}
	return c.PathCounters(ctx)
}

// namespaces maps the inode of every namespace of the cluster to its name and
// devices.
func namespaces(t *clusters.Topology) (map[uint64]nsInfo, error) {
	type ns struct{ name, path string }
	var all []ns
	if t.FabricNetNS != "" {
		all = append(all, ns{"fabric", t.FabricNetNS})
	}
	for _, n := range t.Nodes {
		all = append(all, ns{"node " + n.Name, n.NetNS})
	}
	for _, p := range t.Pods {
		all = append(all, ns{"pod " + p.Name, p.NetNS})
	}
	out := make(map[uint64]nsInfo, len(all))
	for _, n := range all {
		ino, err := pathprobe.NetnsInode(n.path)
		if err != nil {
			return nil, err
		}
		devs, err := devices(n.path)
		if err != nil {
			return nil, err
		}
		out[ino] = nsInfo{name: n.name, devices: devs}
	}
	return out, nil
}

func devices(nsPath string) (map[uint32]string, error) {
	h, err := vns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer nl.Close()
	links, err := nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links in %s: %w", nsPath, err)
	}
	out := make(map[uint32]string, len(links))
	for _, l := range links {
		out[uint32(l.Attrs().Index)] = l.Attrs().Name
	}
	return out, nil
}

// renderTrace turns the events of one request into lines such as
// "pod client-0 eth0 transmit 140B", collapsing nothing: the order is the
// kernel's.
func renderTrace(events []pathprobe.Event, names map[uint64]nsInfo) []string {
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time < events[j].Time })
	out := make([]string, 0, len(events))
	for _, e := range events {
		ns, ok := names[e.Netns]
		where := ns.name
		if !ok {
			where = fmt.Sprintf("netns %d", e.Netns)
		}
		dev := "-"
		if e.Ifindex != 0 {
			if d, ok := ns.devices[e.Ifindex]; ok {
				dev = d
			} else {
				dev = fmt.Sprintf("if%d", e.Ifindex)
			}
		}
		out = append(out, fmt.Sprintf("%-22s %-8s %-12s %dB", where, dev, e.Type, e.Len))
	}
	return out
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
