package bench

import (
	"context"
	"errors"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/agentctl"
	"github.com/meshbench/meshbench/internal/costagent"
	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// Agents starts the runner's agents in a case's cluster: the workloads in
// the pods, the cost and probe agents on the nodes. The runner uses
// agentctl processes unless Options.Agents says otherwise (tests do).
type Agents interface {
	StartServer(ctx context.Context, c clusters.Cluster, pod clusters.Pod, o agent.ServerOptions) (Server, error)
	StartLoad(ctx context.Context, c clusters.Cluster, pod clusters.Pod, o agent.LoadOptions) (Load, error)
	StartCost(ctx context.Context, c clusters.Cluster, node string) (CostAgent, error)
	StartProbe(ctx context.Context, c clusters.Cluster, node string, o pathprobe.Options) (ProbeAgent, error)
}

// Server is an echo server in a pod.
type Server interface {
	// Served returns how many requests the server answered (HTTP
	// requests, gRPC calls or TCP exchanges) and on how many connections
	// it accepted.
	Served(ctx context.Context) (requests, connections uint64, err error)
	// Alive returns nil while the server runs and why it died afterwards.
	Alive() error
	// Close stops the server.
	Close()
}

// Load is a load agent in a pod.
type Load interface {
	// Attack runs an attack, handing sample batches to onSamples.
	Attack(ctx context.Context, at wire.Attack, onSamples func([]results.Sample)) (wire.Done, error)
	// Sent returns what the agent has sent since it started: connections
	// opened, requests sent and how many of them failed.
	Sent(ctx context.Context) (datapaths.Traffic, error)
	// Close stops the agent.
	Close()
}

// CostAgent is a cost agent on a node (costagent.Client).
type CostAgent interface {
	Start(ctx context.Context, groups map[string][]string) error
	Stop(ctx context.Context) (map[string]costagent.Cost, error)
	// Close stops the agent.
	Close()
}

// ProbeAgent is a path probe agent on a node (pathprobe.Client).
type ProbeAgent interface {
	Attach(ctx context.Context) (pathprobe.Attached, error)
	Reset(ctx context.Context) error
	Counts(ctx context.Context) ([]pathprobe.Count, error)
	StartTrace(ctx context.Context) error
	StopTrace(ctx context.Context) ([]pathprobe.Step, error)
	// Close stops the agent, which frees the probe.
	Close()
}

// procAgents are the real agents: `meshbench agent` processes started with
// agentctl through the cluster, driven by the roles' typed clients.
type procAgents struct{}

func (procAgents) StartServer(ctx context.Context, c clusters.Cluster, pod clusters.Pod, o agent.ServerOptions) (Server, error) {
	a, err := startInPod(ctx, c, pod, "server", o.Args())
	if err != nil {
		return nil, err
	}
	return serverProc{a}, nil
}

func (procAgents) StartLoad(ctx context.Context, c clusters.Cluster, pod clusters.Pod, o agent.LoadOptions) (Load, error) {
	a, err := startInPod(ctx, c, pod, "load agent", o.Args())
	if err != nil {
		return nil, err
	}
	return loadProc{a}, nil
}

func startInPod(ctx context.Context, c clusters.Cluster, pod clusters.Pod, name string, args []string) (*agentctl.Agent, error) {
	return agentctl.Start(ctx, c, clusters.ProcSpec{
		Target: clusters.Target{Pod: pod.Name}, Container: AppContainer,
		Name: name + " in pod " + pod.Name + " on node " + pod.Node, Args: args,
	})
}

func (procAgents) StartCost(ctx context.Context, c clusters.Cluster, node string) (CostAgent, error) {
	a, err := agentctl.Start(ctx, c, clusters.ProcSpec{
		Target: clusters.Target{Node: node}, Name: "cost agent on node " + node, Args: costagent.Options{}.Args(),
		Caps: costagent.Caps,
	})
	if err != nil {
		return nil, err
	}
	return costProc{costagent.Client{Caller: a}, a}, nil
}

func (procAgents) StartProbe(ctx context.Context, c clusters.Cluster, node string, o pathprobe.Options) (ProbeAgent, error) {
	a, err := agentctl.Start(ctx, c, clusters.ProcSpec{
		Target: clusters.Target{Node: node}, Name: "path probe on node " + node, Args: o.Args(),
		Caps: pathprobe.Caps,
	})
	if err != nil {
		return nil, err
	}
	return probeProc{pathprobe.Client{Caller: a}, a}, nil
}

type serverProc struct{ *agentctl.Agent }

func (s serverProc) Served(ctx context.Context) (requests, connections uint64, err error) {
	st, err := s.Stats(ctx)
	return st["requests"], st["connections"], err
}

// StreamBytes returns how many bytes of stream transfers the server read.
func (s serverProc) StreamBytes(ctx context.Context) (uint64, error) {
	st, err := s.Stats(ctx)
	return st["bytes"], err
}

func (s serverProc) Close() { s.Stop() }

type loadProc struct{ *agentctl.Agent }

func (l loadProc) Sent(ctx context.Context) (datapaths.Traffic, error) {
	st, err := l.Stats(ctx)
	if err != nil {
		return datapaths.Traffic{}, err
	}
	n, ok := st["connections"]
	if !ok {
		return datapaths.Traffic{}, errors.New("the load agent reports no connection count: its binary is older than meshbench; rebuild both (make build)")
	}
	return datapaths.Traffic{Connections: n, Requests: st["requests"], Failed: st["errors"]}, nil
}

// StreamWriteWaits returns how many stream writes the agent retried after
// ENOMEM.
func (l loadProc) StreamWriteWaits(ctx context.Context) (uint64, error) {
	st, err := l.Stats(ctx)
	return st["stream_write_waits"], err
}

func (l loadProc) Close() { l.Stop() }

type costProc struct {
	costagent.Client
	proc *agentctl.Agent
}

func (c costProc) Close() { c.proc.Stop() }

type probeProc struct {
	pathprobe.Client
	proc *agentctl.Agent
}

func (p probeProc) Close() { p.proc.Stop() }
