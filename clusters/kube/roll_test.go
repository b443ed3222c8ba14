package kube

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshbench/meshbench/clusters"
)

var podsKind = corev1.SchemeGroupVersion.WithKind("Pod")

// followLabels plays the endpoint slice controller for the fake cluster
// as a rolling replacement needs it: the slices list, when read, the
// pods their services select by AppLabel now.
func followLabels(client *fake.Clientset) {
	client.PrependReactor("list", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := client.Tracker().List(podsResource, podsKind, a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		sel := a.(k8stesting.ListAction).GetListRestrictions().Labels
		out := &discoveryv1.EndpointSliceList{}
		for i := range obj.(*corev1.PodList).Items {
			s := endpointSlice(&obj.(*corev1.PodList).Items[i])
			if s.Labels[discoveryv1.LabelServiceName] != "" && sel.Matches(labels.Set(s.Labels)) {
				out.Items = append(out.Items, *s)
			}
		}
		return true, out, nil
	})
}

// startEphemeral plays the kubelet for ephemeral containers: the ones
// named in exits have run to their end with that code, the others run.
func startEphemeral(client *fake.Clientset, exits map[string]int32) {
	client.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := client.Tracker().Get(podsResource, a.GetNamespace(), a.(k8stesting.GetAction).GetName())
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		pod.Status.EphemeralContainerStatuses = nil
		for _, ec := range pod.Spec.EphemeralContainers {
			st := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
			if code, ok := exits[ec.Name]; ok {
				st = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: "rules refused"}}
			}
			pod.Status.EphemeralContainerStatuses = append(pod.Status.EphemeralContainerStatuses, corev1.ContainerStatus{Name: ec.Name, State: st})
		}
		return true, pod, nil
	})
}

// A rolling replacement's API side on the fake cluster: the namespace
// label, the endpoint switched by the app label (the old pod leaves the
// endpoint slices, the new one joins), the old pod deleted, and a running
// pod given the injected containers as ephemeral containers, the idle one
// before join runs and the init one after it; an init container that
// exits non-zero fails the injection.
func TestRoll(t *testing.T) {
	ctx := context.Background()
	client := fakeCluster(t, runningPod, threeNodes()...)
	followLabels(client)
	startEphemeral(client, map[string]int32{"mesh-init": 0})
	s := spec("abc0")
	s.Inject.PodContainers = sidecarInjection
	p := newTestProvider(t, client, &importRecorder{})
	p.opts.Inject = InjectDirect
	cl, err := p.Create(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	c := cl.(*Cluster)
	defer c.Delete(ctx)

	if err := c.SetNamespaceLabel(ctx, InjectLabel, "true"); err != nil {
		t.Fatal(err)
	}
	ns, err := client.CoreV1().Namespaces().Get(ctx, c.topo.Name, metav1.GetOptions{})
	if err != nil || ns.Labels[InjectLabel] != "true" || c.topo.NamespaceLabels[InjectLabel] != "true" {
		t.Errorf("namespace labels %v (%v), topology's %v; want %s=true in both", ns.Labels, err, c.topo.NamespaceLabels, InjectLabel)
	}

	// The new pod as AddPod creates it, without the app label (AddPod's
	// locating needs a node agent, which the fake has not).
	svc, _ := c.topo.Service("svc-000")
	newPod := podObject("abc0", clusters.ServiceSpec{Name: svc.Name, Role: svc.Role, TargetPort: svc.TargetPort}, c.nextPod(svc), "worker-a", c.img, c.inject)
	delete(newPod.Labels, AppLabel)
	if newPod.Name != "svc-000-2" {
		t.Errorf("the replacement of svc-000's two pods is named %s, want svc-000-2", newPod.Name)
	}
	if _, err := client.CoreV1().Pods(c.topo.Name).Create(ctx, newPod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.topo.Pods = append(c.topo.Pods, clusters.Pod{Name: newPod.Name, Service: svc.Name, Node: "worker-a"})

	if err := c.DeletePod(ctx, "svc-000-0"); err == nil {
		t.Error("deleted a pod that is still an endpoint, want an error")
	}
	if err := c.SwitchEndpoint(ctx, "svc-000-0", newPod.Name); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.topo.Service("svc-000"); !slices.Equal(got.Pods, []string{newPod.Name, "svc-000-1"}) {
		t.Errorf("svc-000's endpoints %v, want the new pod in svc-000-0's place", got.Pods)
	}
	eps, err := client.DiscoveryV1().EndpointSlices(c.topo.Name).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=svc-000"})
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, s := range eps.Items {
		in = append(in, s.Endpoints[0].TargetRef.Name)
	}
	if !equalSets(in, []string{newPod.Name, "svc-000-1"}) {
		t.Errorf("svc-000's endpoint slices hold %v, want the new pod and svc-000-1", in)
	}
	if err := c.DeletePod(ctx, "svc-000-0"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.topo.Pod("svc-000-0"); ok {
		t.Error("the deleted pod is still in the topology")
	}
	if _, err := client.CoreV1().Pods(c.topo.Name).Get(ctx, "svc-000-0", metav1.GetOptions{}); err == nil {
		t.Error("the deleted pod is still in the cluster")
	}

	var atJoin []string
	err = c.InjectPod(ctx, "client-0", func(ctx context.Context) error {
		pod, err := client.CoreV1().Pods(c.topo.Name).Get(ctx, "client-0", metav1.GetOptions{})
		for _, ec := range pod.Spec.EphemeralContainers {
			atJoin = append(atJoin, ec.Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := client.CoreV1().Pods(c.topo.Name).Get(ctx, "client-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, ec := range pod.Spec.EphemeralContainers {
		all = append(all, ec.Name)
		if ec.Name == "mesh-init" && (ec.SecurityContext == nil || !slices.Contains(ec.SecurityContext.Capabilities.Add, "NET_ADMIN")) {
			t.Errorf("mesh-init as an ephemeral container has %+v, want NET_ADMIN", ec.SecurityContext)
		}
	}
	if !slices.Equal(atJoin, []string{"sidecar"}) || !slices.Equal(all, []string{"sidecar", "mesh-init"}) {
		t.Errorf("ephemeral containers %v when join ran, %v after; want the sidecar's before, mesh-init after", atJoin, all)
	}

	startEphemeral(client, map[string]int32{"mesh-init": 1})
	if err := c.InjectPod(ctx, "svc-000-1", func(context.Context) error { return nil }); err == nil {
		t.Error("an init container that exited 1 did not fail the injection")
	}
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
