package builtin

import (
	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/datapaths/wireguard"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/costagent"
)

// Roles returns every agent role, by name. Each role's package exports the
// role function, its options type (whose Args start the role) and, for a
// role that answers calls, its client.
func Roles() agent.Roles {
	return agent.Roles{
		// The workloads, in the pods.
		agent.ServerRole: agent.Server,
		agent.LoadRole:   agent.Load,
		// The proxy datapaths' proxies, in pods and nodes, and the
		// netfilter steering into them (one-shot).
		proxy.Role: proxy.Main,
		steer.Role: steer.Run,
		// Node agents: the ebpf datapath's programs, the WireGuard
		// tunnels, the cost sampler and the packet-path probe.
		ebpf.Role:      ebpf.NodeAgent,
		wireguard.Role: wireguard.NodeAgent,
		costagent.Role: costagent.Run,
		pathprobe.Role: pathprobe.NodeAgent,
		// The kube provider's: every container's idle process (which,
		// in the node agent, removes the run's host cgroups and what a
		// killed WireGuard agent left on the node), the node agent that
		// finds the pods on a node, the sidecar injector (a mutating
		// admission webhook), and the starter of processes on a node
		// outside its pods.
		kubenode.PauseRole:    kubenode.PauseWith(wireguard.RemoveRun),
		kubenode.InspectRole:  kubenode.Inspect,
		kubenode.InjectorRole: kubenode.Injector,
		kubenode.HostRole:     kubenode.Host,
	}
}
