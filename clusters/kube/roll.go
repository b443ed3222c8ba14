package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
)

var _ clusters.Roller = (*Cluster)(nil)

// rollPoll is how often the rolling replacement's waits look at the API
// server: they are inside a measurement, where half a second is long.
const rollPoll = 100 * time.Millisecond

// serviceProxySync is how long SwitchEndpoint waits, once the endpoint
// slices say the switch, for the nodes' service proxies to program it:
// kube-proxy syncs at most once a second (its default minSyncPeriod).
// Connections opened before that still reach the old pod, which serves
// on until it is stopped after the switch; that is the reason Kubernetes
// users give pods a preStop delay.
const serviceProxySync = 2 * time.Second

// SetNamespaceLabel labels the run's namespace, as `kubectl label
// namespace` does: the injector webhook's selectors (webhookObject) read
// it for the pods created from then on, as does direct injection.
func (c *Cluster) SetNamespaceLabel(ctx context.Context, key, value string) error {
	if _, err := c.client.CoreV1().Namespaces().Patch(ctx, c.topo.Name, types.MergePatchType, labelPatch(map[string]*string{key: &value}), metav1.PatchOptions{}); err != nil {
		return apiError("label namespace "+c.topo.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topo.NamespaceLabels = clusters.WithLabel(c.topo.NamespaceLabels, key, value)
	return nil
}

// labelPatch is the merge patch that sets labels (a nil value removes one).
func labelPatch(labels map[string]*string) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	return b
}

// patchPodLabels sets (a nil value removes) labels of pod name.
func (c *Cluster) patchPodLabels(ctx context.Context, name string, labels map[string]*string) error {
	if _, err := c.client.CoreV1().Pods(c.topo.Name).Patch(ctx, name, types.MergePatchType, labelPatch(labels), metav1.PatchOptions{}); err != nil {
		return apiError("label pod "+name, err)
	}
	return nil
}

// AddPod creates a new pod of old's service on old's node, as a
// Deployment's rolling update does, and waits until it runs: the API
// server sends it to the injector webhook if the labels now say so (or,
// with direct injection, its object carries the injected containers). It
// has no AppLabel yet, so that its service does not select it before its
// server listens (SwitchEndpoint gives it the label). Its name carries the
// service's next pod number.
func (c *Cluster) AddPod(ctx context.Context, old string) (clusters.Pod, error) {
	c.mu.Lock()
	o, ok := c.topo.Pod(old)
	svc, _ := c.topo.Service(o.Service)
	nsLabels := c.topo.NamespaceLabels
	var k int
	if ok {
		k = c.nextPod(svc)
	}
	c.mu.Unlock()
	if !ok {
		return clusters.Pod{}, fmt.Errorf("add pod beside %s: no such pod", old)
	}
	spec := clusters.ServiceSpec{Name: svc.Name, Role: svc.Role, Port: svc.Port, TargetPort: svc.TargetPort, PodLabels: o.Labels}
	var direct []clusters.Container
	if c.webhook == "" && clusters.Injected(nsLabels, o.Labels) {
		direct = c.inject
	}
	obj := podObject(c.topo.RunID, spec, k, o.Node, c.img, direct)
	delete(obj.Labels, AppLabel)
	if _, err := c.client.CoreV1().Pods(c.topo.Name).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return clusters.Pod{}, webhookError(apiError("create pod "+obj.Name, err))
	}
	pod, err := c.waitPod(ctx, obj.Name, func(p *corev1.Pod) (bool, error) { return running(p), podFailure(p, o.Node) })
	if err != nil {
		return clusters.Pod{}, err
	}
	if c.webhook != "" {
		if err := checkInjected(map[string]*corev1.Pod{pod.Name: pod}, nsLabels, c.inject); err != nil {
			return clusters.Pod{}, err
		}
	}
	tp := clusters.Pod{Name: pod.Name, Service: svc.Name, Node: o.Node, Labels: o.Labels}
	if tp.IP, err = netip.ParseAddr(pod.Status.PodIP); err != nil {
		return clusters.Pod{}, fmt.Errorf("pod %s: IP %q: %w", tp.Name, pod.Status.PodIP, err)
	}
	places, err := c.inspect(ctx, o.Node, []kubenode.Pod{inspectSpec(pod, clusters.AppContainer)})
	if err != nil {
		return clusters.Pod{}, fmt.Errorf("locate pod %s: %w", tp.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := slices.IndexFunc(c.topo.Nodes, func(n clusters.Node) bool { return n.Name == o.Node })
	if err := c.placePod(&c.topo.Nodes[ni], &tp, places[tp.Name]); err != nil {
		return clusters.Pod{}, fmt.Errorf("locate pod %s: %w", tp.Name, err)
	}
	c.topo.Pods = append(slices.Clone(c.topo.Pods), tp)
	if err := c.fillRanges(); err != nil {
		return clusters.Pod{}, err
	}
	return tp, nil
}

// nextPod returns the number of svc's next pod; c.mu is held. The pods the
// cluster was made with are numbered from 0.
func (c *Cluster) nextPod(svc clusters.Service) int {
	if c.next == nil {
		c.next = map[string]int{}
	}
	if _, ok := c.next[svc.Name]; !ok {
		c.next[svc.Name] = len(svc.Pods)
	}
	k := c.next[svc.Name]
	c.next[svc.Name]++
	return k
}

// SwitchEndpoint makes pod to the service's endpoint in from's place: to
// gets the label its service selects, then from loses it, and once the
// service's endpoint slices list to and not from it waits serviceProxySync
// for the nodes' service proxies. The connections open to from stay with
// it: conntrack keeps their translation.
func (c *Cluster) SwitchEndpoint(ctx context.Context, from, to string) error {
	c.mu.Lock()
	p, ok := c.topo.Pod(to)
	k := slices.IndexFunc(c.topo.Services, func(s clusters.Service) bool { return s.Name == p.Service })
	var endpoint bool
	if ok {
		endpoint = slices.Contains(c.topo.Services[k].Pods, from)
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("switch endpoint to %s: no such pod", to)
	}
	svc := p.Service
	if !endpoint {
		return fmt.Errorf("switch endpoint of service %s: pod %s is not one of its endpoints", svc, from)
	}
	if err := c.patchPodLabels(ctx, to, map[string]*string{AppLabel: &svc}); err != nil {
		return err
	}
	if err := c.patchPodLabels(ctx, from, map[string]*string{AppLabel: nil}); err != nil {
		return err
	}
	if err := c.waitSwitched(ctx, svc, from, to); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("switch endpoint of service %s: %w", svc, ctx.Err())
	case <-time.After(serviceProxySync):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	services := slices.Clone(c.topo.Services)
	pods := slices.Clone(services[k].Pods)
	pods[slices.Index(pods, from)] = to
	services[k].Pods = pods
	c.topo.Services = services
	return nil
}

// waitSwitched waits at most the ready timeout until the endpoint slices
// of svc list pod to as ready and pod from not at all.
func (c *Cluster) waitSwitched(ctx context.Context, svc, from, to string) error {
	tctx, cancel := context.WithTimeout(ctx, c.readyTimeout)
	defer cancel()
	sel := metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc}
	for {
		list, err := c.client.DiscoveryV1().EndpointSlices(c.topo.Name).List(tctx, sel)
		if err != nil && tctx.Err() == nil {
			return apiError("list endpoint slices", err)
		}
		if err == nil {
			var hasTo, hasFrom bool
			for _, s := range list.Items {
				for _, e := range s.Endpoints {
					switch {
					case e.TargetRef == nil:
					case e.TargetRef.Name == from:
						hasFrom = true
					case e.TargetRef.Name == to:
						hasTo = hasTo || e.Conditions.Ready == nil || *e.Conditions.Ready
					}
				}
			}
			if hasTo && !hasFrom {
				return nil
			}
		}
		select {
		case <-tctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("switch endpoint of service %s: %w", svc, err)
			}
			return fmt.Errorf("switch endpoint of service %s from pod %s to %s: the endpoint slices did not follow the labels in %s", svc, from, to, c.readyTimeout)
		case <-time.After(rollPoll):
		}
	}
}

// DeletePod deletes pod name, waits until it is gone and drops it from the
// topology. It must be no endpoint of its service any more.
func (c *Cluster) DeletePod(ctx context.Context, name string) error {
	c.mu.Lock()
	_, err := c.topo.RetiredPod(name)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.client.CoreV1().Pods(c.topo.Name).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return apiError("delete pod "+name, err)
	}
	if _, err := c.waitPod(ctx, name, nil); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topo.Pods = slices.DeleteFunc(slices.Clone(c.topo.Pods), func(q clusters.Pod) bool { return q.Name == name })
	return nil
}

// InjectPod adds to the running pod name, as ephemeral containers (the
// only containers a running pod can gain), what the injector adds at a
// pod's creation: first the containers that stay up, then, once join has
// started the datapath's processes in them, the init containers, each
// waited for until it has exited 0.
func (c *Cluster) InjectPod(ctx context.Context, name string, join func(context.Context) error) error {
	var idle, inits []clusters.Container
	for _, ct := range c.inject {
		if ct.Init {
			inits = append(inits, ct)
		} else {
			idle = append(idle, ct)
		}
	}
	if err := c.addEphemeral(ctx, name, idle, func(s corev1.ContainerState) (bool, error) { return s.Running != nil, exitFailure(s) }); err != nil {
		return err
	}
	if err := join(ctx); err != nil {
		return err
	}
	return c.addEphemeral(ctx, name, inits, func(s corev1.ContainerState) (bool, error) {
		return s.Terminated != nil && s.Terminated.ExitCode == 0, exitFailure(s)
	})
}

// exitFailure says why a container that exited non-zero failed.
func exitFailure(s corev1.ContainerState) error {
	if t := s.Terminated; t != nil && t.ExitCode != 0 {
		return fmt.Errorf("exited %d: %s", t.ExitCode, t.Message)
	}
	return nil
}

// addEphemeral adds cts to pod name as ephemeral containers and waits until
// the state of each satisfies done.
func (c *Cluster) addEphemeral(ctx context.Context, name string, cts []clusters.Container, done func(corev1.ContainerState) (bool, error)) error {
	if len(cts) == 0 {
		return nil
	}
	pods := c.client.CoreV1().Pods(c.topo.Name)
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return apiError("get pod "+name, err)
	}
	var names []string
	for _, ct := range cts {
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon(injectedContainer(ct, c.img)),
		})
		names = append(names, ct.Name)
	}
	if _, err := pods.UpdateEphemeralContainers(ctx, name, pod, metav1.UpdateOptions{}); err != nil {
		return apiError("add containers "+fmt.Sprint(names)+" to pod "+name, err)
	}
	_, err = c.waitPod(ctx, name, func(p *corev1.Pod) (bool, error) {
		n := 0
		for _, s := range p.Status.EphemeralContainerStatuses {
			if !slices.Contains(names, s.Name) {
				continue
			}
			ok, err := done(s.State)
			if err != nil {
				return false, fmt.Errorf("container %s in pod %s: %w", s.Name, name, err)
			}
			if ok {
				n++
			}
		}
		return n == len(names), nil
	})
	return err
}

// waitPod polls pod name every rollPoll, for at most the ready timeout,
// until done says so or fails, and returns it as last seen; with done nil
// it waits until the pod is gone.
func (c *Cluster) waitPod(ctx context.Context, name string, done func(*corev1.Pod) (bool, error)) (*corev1.Pod, error) {
	tctx, cancel := context.WithTimeout(ctx, c.readyTimeout)
	defer cancel()
	what := "run"
	if done == nil {
		what = "be gone"
	}
	for {
		pod, err := c.client.CoreV1().Pods(c.topo.Name).Get(tctx, name, metav1.GetOptions{})
		switch {
		case done == nil && apierrors.IsNotFound(err):
			return nil, nil
		case err != nil && tctx.Err() == nil:
			return nil, apiError("get pod "+name, err)
		case err == nil && done != nil:
			ok, err := done(pod)
			if err != nil || ok {
				return pod, err
			}
		}
		select {
		case <-tctx.Done():
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("wait for pod %s to %s: %w", name, what, err)
			}
			return nil, errors.New("pod " + name + " did not " + what + " within " + c.readyTimeout.String())
		case <-time.After(rollPoll):
		}
	}
}
