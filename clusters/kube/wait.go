package kube

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

const (
	// pollEvery is how often waitRunning looks at the pods.
	pollEvery = 500 * time.Millisecond
	// describeTimeout bounds reading the events of stuck pods.
	describeTimeout = 10 * time.Second
	// describeMax is how many stuck pods an error describes.
	describeMax = 3
	// eventsMax is how many of a pod's latest events an error quotes.
	eventsMax = 3
)

// imageReasons are container waiting reasons that mean the node cannot get
// the image; they do not resolve by waiting.
var imageReasons = map[string]bool{
	"ErrImageNeverPull": true,
	"ErrImagePull":      true,
	"ImagePullBackOff":  true,
	"InvalidImageName":  true,
}

// fatalReasons are other waiting reasons that waiting does not resolve.
var fatalReasons = map[string]bool{
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
	"CrashLoopBackOff":           true,
}

// waitRunning waits at most timeout until every pod in placed (pod name to
// node name) runs its container, and returns the pods by name. A pod that
// failed, or whose image cannot be had, fails at once; pods still not
// running at the deadline fail with their conditions and latest events.
func waitRunning(ctx context.Context, client kubernetes.Interface, ns string, placed map[string]string, timeout time.Duration) (map[string]*corev1.Pod, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pods := client.CoreV1().Pods(ns)
	var waiting []*corev1.Pod // as last seen
	for {
		list, err := pods.List(tctx, metav1.ListOptions{})
		if err != nil && tctx.Err() == nil {
			return nil, apiError("list pods", err)
		}
		if err == nil {
			byName := map[string]*corev1.Pod{}
			waiting = nil
			for i := range list.Items {
				byName[list.Items[i].Name] = &list.Items[i]
			}
			for name, node := range placed {
				pod, ok := byName[name]
				if !ok {
					return nil, fmt.Errorf("pod %s on node %s disappeared", name, node)
				}
				if err := podFailure(pod, node); err != nil {
					return nil, err
				}
				if !running(pod) {
					waiting = append(waiting, pod)
				}
			}
			if len(waiting) == 0 {
				return byName, nil
			}
		}
		select {
		case <-tctx.Done():
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("wait for pods to run: %w", err)
			}
			return nil, stuck(ctx, client, ns, placed, waiting, timeout)
		case <-time.After(pollEvery):
		}
	}
}

// running reports whether all the pod's containers have started.
func running(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || len(pod.Status.ContainerStatuses) < len(pod.Spec.Containers) {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

// podFailure returns why pod will never run, or nil while it may still.
func podFailure(pod *corev1.Pod, node string) error {
	where := fmt.Sprintf("pod %s on node %s", pod.Name, node)
	for _, cs := range pod.Status.InitContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Errorf("%s: init container %s exited with code %d (%s): %s", where, cs.Name, t.ExitCode, t.Reason, t.Message)
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return fmt.Errorf("%s: container %s exited with code %d (%s): %s", where, cs.Name, t.ExitCode, t.Reason, t.Message)
		}
		w := cs.State.Waiting
		switch {
		case w == nil:
		case imageReasons[w.Reason]:
			return configErrorf("%s cannot get the meshbench image %s (%s: %s): check that --image-import reaches the node's container runtime, or that the node can pull from --image-registry",
				where, cs.Image, w.Reason, w.Message)
		case fatalReasons[w.Reason]:
			return fmt.Errorf("%s: container %s: %s: %s", where, cs.Name, w.Reason, w.Message)
		}
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return fmt.Errorf("%s stopped (%s): %s %s", where, pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
	}
	return nil
}

// stuck describes the pods that did not run in time: a configuration
// error, as the cluster cannot run what the scenario asks for.
func stuck(ctx context.Context, client kubernetes.Interface, ns string, placed map[string]string, waiting []*corev1.Pod, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), describeTimeout)
	defer cancel()
	slices.SortFunc(waiting, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	var desc []string
	for _, pod := range waiting[:min(len(waiting), describeMax)] {
		sel := fields.OneTermEqualSelector("involvedObject.name", pod.Name).String()
		events, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
		var evs []corev1.Event
		if err == nil {
			evs = events.Items
		}
		desc = append(desc, describe(pod, placed[pod.Name], evs))
	}
	if more := len(waiting) - describeMax; more > 0 {
		desc = append(desc, fmt.Sprintf("and %d more", more))
	}
	return configErrorf("%d of %d pods not running after %s: %s", len(waiting), len(placed), timeout, strings.Join(desc, "; "))
}

// describe says in one line where a pod is stuck: phase, failing
// conditions, the container's waiting reason and the latest events.
func describe(pod *corev1.Pod, node string, events []corev1.Event) string {
	parts := []string{fmt.Sprintf("pod %s (node %s) %s", pod.Name, node, pod.Status.Phase)}
	for _, c := range pod.Status.Conditions {
		if c.Status != corev1.ConditionTrue && (c.Reason != "" || c.Message != "") {
			parts = append(parts, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			parts = append(parts, fmt.Sprintf("container %s waiting: %s %s", cs.Name, w.Reason, w.Message))
		}
	}
	events = slices.DeleteFunc(slices.Clone(events), func(e corev1.Event) bool { return e.InvolvedObject.Name != pod.Name })
	slices.SortFunc(events, func(a, b corev1.Event) int { return cmp.Compare(eventTime(a).UnixNano(), eventTime(b).UnixNano()) })
	for _, e := range events[max(0, len(events)-eventsMax):] {
		parts = append(parts, fmt.Sprintf("event %s %s: %s", e.Type, e.Reason, strings.TrimSpace(e.Message)))
	}
	return strings.Join(parts, ", ")
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// waitEndpoints waits at most timeout until the EndpointSlices of every
// service in want (service name to pod count) list all its pods as ready:
// from then on the cluster's service proxy routes to them, give or take its
// sync period. Without the wait, the first requests of a case would go
// into a virtual IP nothing answers yet.
func waitEndpoints(ctx context.Context, client kubernetes.Interface, ns string, want map[string]int, timeout time.Duration) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	eps := client.DiscoveryV1().EndpointSlices(ns)
	var missing []string // as last seen
	for {
		list, err := eps.List(tctx, metav1.ListOptions{})
		if err != nil && tctx.Err() == nil {
			return apiError("list endpoint slices", err)
		}
		if err == nil {
			ready := map[string]map[string]bool{} // service -> ready pods
			for _, s := range list.Items {
				svc := s.Labels[discoveryv1.LabelServiceName]
				for _, e := range s.Endpoints {
					// A nil condition means ready.
					if e.TargetRef == nil || e.Conditions.Ready != nil && !*e.Conditions.Ready {
						continue
					}
					if ready[svc] == nil {
						ready[svc] = map[string]bool{}
					}
					ready[svc][e.TargetRef.Name] = true
				}
			}
			missing = nil
			for svc, n := range want {
				if len(ready[svc]) < n {
					missing = append(missing, fmt.Sprintf("%s (%d of %d pods)", svc, len(ready[svc]), n))
				}
			}
			if len(missing) == 0 {
				return nil
			}
		}
		select {
		case <-tctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("wait for service endpoints: %w", err)
			}
			slices.Sort(missing)
			return configErrorf("services without ready endpoints after %s: %s: is the cluster's endpoint slice controller running?", timeout, strings.Join(missing, ", "))
		case <-time.After(pollEvery):
		}
	}
}
