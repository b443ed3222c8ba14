package scenarios

import "fmt"

// Address rules shared with the cluster providers: every node takes the next
// /24 of the pod CIDR (node i the i-th), and at most MaxPodsPerNode pods run
// on a node, client pods included.
const (
	NodePodPrefixLen = 24
	MaxPodsPerNode   = 250
)

// ClientNode is the node that runs every client pod.
const ClientNode = 0

// PlacePods says on which node each server pod runs: the result holds, per
// service, per pod, a node index in [0, nodes). Server pods are numbered
// service by service and then:
//
//   - same-node puts them all on ClientNode;
//   - cross-node deals them round-robin over nodes 1..nodes-1;
//   - spread deals them round-robin over all nodes, starting at node 0.
//
// The runner and Validate both place pods with it. It panics on an unknown
// placement or on cross-node with fewer than 2 nodes, which Validate rejects.
func PlacePods(nodes int, placement string, services, podsPerService int) [][]int {
	first, count := 0, 0
	switch placement {
	case SameNode:
		first, count = ClientNode, 1
	case CrossNode:
		first, count = 1, nodes-1
	case Spread:
		first, count = 0, nodes
	default:
		panic(fmt.Sprintf("scenarios: unknown placement %q", placement))
	}
	if count < 1 {
		panic(fmt.Sprintf("scenarios: placement %s on %d nodes leaves no node for server pods", placement, nodes))
	}
	out := make([][]int, services)
	k := 0
	for s := range out {
		out[s] = make([]int, podsPerService)
		for p := range out[s] {
			out[s][p] = first + k%count
			k++
		}
	}
	return out
}

// podsPerNode counts the pods on each node, client pods included.
func podsPerNode(nodes, clientPods int, placed [][]int) []int {
	count := make([]int, nodes)
	count[ClientNode] += clientPods
	for _, pods := range placed {
		for _, n := range pods {
			count[n]++
		}
	}
	return count
}
