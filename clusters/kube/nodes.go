package kube

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

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
