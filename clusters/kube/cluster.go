package kube

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshbench/meshbench/clusters"
)

// Cluster is a live cluster: a namespace of a Kubernetes cluster.
type Cluster struct {
	client kubernetes.Interface
	exec   execFunc
	topo   *clusters.Topology
	// nodeAgents maps node names to their node agent's pod.
	nodeAgents map[string]string
	// gateways holds, per node, the pods' default gateways that locate
	// found, for the node's pod range.
	gateways map[string][]netip.Addr
	// webhook names the run's MutatingWebhookConfiguration, once
	// registered (InjectWebhook).
	webhook string
	// img, inject and readyTimeout are the pods' image, the containers
	// the datapath's injection adds to them and how long a pod may take
	// to run: what a pod added during a rolling replacement (Roller)
	// needs.
	img          image
	inject       []clusters.Container
	readyTimeout time.Duration
	// derived holds the nodes whose pod range fillRanges derived from the
	// pods on them.
	derived map[string]bool
	// ctx carries the processes' exec streams; Delete cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	procs   []*process
	deleted bool
	// hosts counts the processes StartHost started, which name their
	// cgroups.
	hosts int
	// next holds, per service, the number of the next pod AddPod adds.
	next map[string]int
}

// Topology returns the cluster's names and addresses. Network namespace
// and cgroup paths are as the node agents see them on their nodes
// (/proc/PID/ns/net, cgroups relative to the node's cgroup2 mount); they
// mean nothing on the runner's host. ServiceCIDR, which the Kubernetes API
// does not expose, is the smallest prefix holding the run's service IPs.
func (c *Cluster) Topology() *clusters.Topology { return c.topo }

// Start runs `meshbench` with spec.Args through the pods/exec subresource,
// with stdin and stdout as its control pipes: in the target pod's
// spec.Container (default: the app container), or on a node in its node
// agent's spec.Container (default: NodeAgentContainer). The process ends
// when its stdin closes (Stop) and with Delete; ctx bounds only the start.
func (c *Cluster) Start(ctx context.Context, spec clusters.ProcSpec) (clusters.Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	tg := spec.Target
	pod, container := tg.Pod, spec.Container
	switch {
	case tg.Node != "" && tg.Pod != "":
		return nil, fmt.Errorf("start %s: the target names both a pod and a node", spec.Name)
	case tg.Node != "":
		if pod = c.nodeAgents[tg.Node]; pod == "" {
			return nil, fmt.Errorf("start %s: no node agent on node %q", spec.Name, tg.Node)
		}
		if container == "" {
			container = NodeAgentContainer
		}
	case tg.Pod == "":
		return nil, fmt.Errorf("start %s: the target names no pod", spec.Name)
	default:
		if _, ok := c.topo.Pod(tg.Pod); !ok {
			return nil, fmt.Errorf("start %s: no pod %q", spec.Name, tg.Pod)
		}
		if container == "" {
			container = clusters.AppContainer
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deleted {
		return nil, fmt.Errorf("start %s: cluster %s is deleted", spec.Name, c.topo.Name)
	}
	p := newProcess(c.ctx, spec.Name)
	var stderr io.Writer = &p.tail
	if spec.Stderr != nil {
		stderr = io.MultiWriter(&p.tail, spec.Stderr)
	}
	command := append([]string{BinaryPath}, spec.Args...)
	go p.run(c.exec, c.topo.Name, pod, container, command, stderr)
	c.procs = append(c.procs, p)
	return p, nil
}

// Delete ends the processes' exec streams, deletes the run's namespace
// with everything in it, and waits until it is gone. It is idempotent.
func (c *Cluster) Delete(ctx context.Context) error {
	c.mu.Lock()
	c.deleted = true
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()

	c.cancel()
	for _, p := range procs {
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("delete cluster %s: wait for %s: %w", c.topo.Name, p.desc, ctx.Err())
		}
	}
	if c.webhook != "" {
		// Before the namespace: a webhook whose injector is gone would
		// fail the creation of every pod it selects.
		if err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, c.webhook, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete cluster %s: %w", c.topo.Name, apiError("delete webhook configuration "+c.webhook, err))
		}
	}
	if err := deleteNamespaces(ctx, c.client, []string{c.topo.Name}); err != nil {
		return fmt.Errorf("delete cluster %s: %w", c.topo.Name, err)
	}
	return nil
}
