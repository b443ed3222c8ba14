package kube

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshbench/meshbench/clusters"
)

// unschedulable says why the run cannot put its pods on n, or "" when it
// can: the node must be ready, not cordoned, and carry no taint that keeps
// pods without tolerations away.
func unschedulable(n *corev1.Node) string {
	if n.Spec.Unschedulable {
		return "cordoned"
	}
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return "not ready"
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return "tainted " + t.ToString()
		}
	}
	return ""
}

// pickNodes returns the first want schedulable nodes in name order, so
// that node indexes map to the same nodes run after run. Too few is a
// configuration error naming why each other node was left out.
func pickNodes(ctx context.Context, client kubernetes.Interface, want int) ([]corev1.Node, error) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, apiError("list nodes", err)
	}
	nodes := list.Items
	slices.SortFunc(nodes, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	var ok []corev1.Node
	var why []string
	for i := range nodes {
		if r := unschedulable(&nodes[i]); r != "" {
			why = append(why, nodes[i].Name+": "+r)
			continue
		}
		ok = append(ok, nodes[i])
	}
	if len(ok) < want {
		msg := fmt.Sprintf("the scenario needs %d schedulable nodes but the cluster has %d", want, len(ok))
		if len(why) > 0 {
			msg += " (" + strings.Join(why, "; ") + ")"
		}
		return nil, configErrorf("%s: use a bigger cluster or a scenario with fewer nodes", msg)
	}
	return ok[:want], nil
}

// topologyNode describes n: its name, InternalIP and pod range as far as
// the node reports them. Network namespaces and cgroups are the node's own
// business on a real cluster and stay empty.
func topologyNode(n *corev1.Node) clusters.Node {
	out := clusters.Node{Name: n.Name}
	for _, a := range n.Status.Addresses {
		ip, err := netip.ParseAddr(a.Address)
		if a.Type != corev1.NodeInternalIP || err != nil {
			continue
		}
		// Prefer IPv4 on dual-stack nodes.
		if !out.IP.IsValid() || ip.Is4() && !out.IP.Is4() {
			out.IP = ip
		}
	}
	if p, err := netip.ParsePrefix(n.Spec.PodCIDR); err == nil {
		out.PodCIDR = p
	}
	return out
}

// waitNodeAgents waits at most timeout until the node agents' DaemonSet
// has a pod on each of nodes and returns their names by node.
func waitNodeAgents(ctx context.Context, client kubernetes.Interface, ns, runID string, nodes []string, timeout time.Duration) (map[string]string, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		list, err := client.CoreV1().Pods(ns).List(tctx, metav1.ListOptions{LabelSelector: nodeAgentLabel + "=" + runID})
		if err != nil && tctx.Err() == nil {
			return nil, apiError("list node agents", err)
		}
		got := map[string]string{}
		if err == nil {
			for _, p := range list.Items {
				if node := scheduledNode(&p); node != "" && p.DeletionTimestamp == nil {
					got[node] = p.Name
				}
			}
		}
		var missing []string
		for _, n := range nodes {
			if got[n] == "" {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return got, nil
		}
		select {
		case <-tctx.Done():
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("wait for node agents: %w", err)
			}
			return nil, configErrorf("the node agents' DaemonSet %s made no pod on node %s within %s: check that privileged, host-network pods are allowed (Pod Security, policy engines) and the nodes have room",
				nodeAgentName, strings.Join(missing, ", "), timeout)
		case <-time.After(pollEvery):
		}
	}
}

// scheduledNode is the node a DaemonSet pod is bound to: spec.nodeName
// once scheduled, else the one node its affinity names.
func scheduledNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		// The DaemonSet controller gives each pod a single term.
		if terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms; len(terms) == 1 {
			for _, f := range terms[0].MatchFields {
				if f.Key == "metadata.name" && len(f.Values) == 1 {
					return f.Values[0]
				}
			}
		}
	}
	return ""
}
