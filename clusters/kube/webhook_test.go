package kube

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
)

var (
	webhooksResource   = admissionregistrationv1.SchemeGroupVersion.WithResource("mutatingwebhookconfigurations")
	webhooksKind       = admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingWebhookConfiguration")
	namespacesResource = corev1.SchemeGroupVersion.WithResource("namespaces")
	secretsResource    = corev1.SchemeGroupVersion.WithResource("secrets")
)

var sidecarInjection = []clusters.Container{
	{Name: "mesh-init", Init: true, Args: []string{"agent", "steer"}, NetAdmin: true},
	{Name: "sidecar", NetAdmin: true},
}

// admitWithWebhook plays the API server's admission for the fake cluster:
// a pod created in a namespace and with labels that the run's webhook
// selects gets the containers of the injector's Secret, as the injector's
// patch adds them; with call false the webhook is unreachable and, as
// failurePolicy Ignore does, the pod is admitted as it is.
func admitWithWebhook(tb testing.TB, client *fake.Clientset, call bool) {
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		dryRun := len(a.(k8stesting.CreateActionImpl).CreateOptions.DryRun) > 0
		// The tracker, not the client: the fake holds its lock while
		// reactors run.
		tr := client.Tracker()
		obj, err := tr.List(webhooksResource, webhooksKind, "")
		if err != nil {
			return true, nil, err
		}
		hooks := obj.(*admissionregistrationv1.MutatingWebhookConfigurationList)
		if len(hooks.Items) == 0 || !call {
			return dryRun, pod, nil
		}
		obj, err = tr.Get(namespacesResource, "", pod.Namespace)
		if err != nil {
			return true, nil, err
		}
		ns := obj.(*corev1.Namespace)
		if !selects(tb, &hooks.Items[0], ns.Labels, pod.Labels) {
			return dryRun, pod, nil
		}
		obj, err = tr.Get(secretsResource, pod.Namespace, injectorName)
		if err != nil {
			return true, nil, err
		}
		secret := obj.(*corev1.Secret)
		var inj kubenode.Injection
		if err := json.Unmarshal(secret.Data[kubenode.InjectorPatchFile], &inj); err != nil {
			tb.Errorf("injection in the secret: %v", err)
		}
		for list, raws := range map[*[]corev1.Container][]json.RawMessage{&pod.Spec.InitContainers: inj.InitContainers, &pod.Spec.Containers: inj.Containers} {
			for _, raw := range raws {
				var c corev1.Container
				if err := json.Unmarshal(raw, &c); err != nil {
					tb.Errorf("injected container: %v", err)
				}
				*list = append(*list, c)
			}
		}
		pod.Annotations = map[string]string{kubenode.InjectedAnnotation: "webhook"}
		// A dry run is answered, not stored.
		return dryRun, pod, nil
	})
}

// selects reports whether one of the webhooks of w selects a pod labelled
// pod in a namespace labelled ns, as the API server decides.
func selects(tb testing.TB, w *admissionregistrationv1.MutatingWebhookConfiguration, ns, pod map[string]string) bool {
	tb.Helper()
	for _, h := range w.Webhooks {
		nsSel, err := metav1.LabelSelectorAsSelector(h.NamespaceSelector)
		if err != nil {
			tb.Fatal(err)
		}
		podSel, err := metav1.LabelSelectorAsSelector(h.ObjectSelector)
		if err != nil {
			tb.Fatal(err)
		}
		if nsSel.Matches(labels.Set(ns)) && podSel.Matches(labels.Set(pod)) {
			return true
		}
	}
	return false
}

// The webhooks select, by labels alone, the workload pods of the run that
// clusters.Injected injects, whatever the namespace's label says: so
// relabelling the namespace enrols the pods created after it.
func TestWebhookSelectors(t *testing.T) {
	w := webhookObject("abc0", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: NamespaceName("abc0")}}, nil, admissionregistrationv1.Fail)
	for _, nsInject := range []string{"", "true", "false"} {
		for _, podInject := range []string{"", "true", "false"} {
			ns := map[string]string{RunLabel: "abc0"}
			pod := map[string]string{RoleLabel: "server"}
			if nsInject != "" {
				ns[InjectLabel] = nsInject
			}
			if podInject != "" {
				pod[InjectLabel] = podInject
			}
			if got, want := selects(t, w, ns, pod), clusters.Injected(ns, pod); got != want {
				t.Errorf("namespace %v, pod %v: selected %v, want %v as clusters.Injected decides", ns, pod, got, want)
			}
			other := map[string]string{RunLabel: "xyz0", InjectLabel: nsInject}
			if selects(t, w, other, pod) {
				t.Errorf("a pod %v of another run's namespace %v was selected", pod, other)
			}
			delete(pod, RoleLabel)
			if selects(t, w, ns, pod) {
				t.Errorf("pod %v without a role (a node agent's, the injector's) was selected", pod)
			}
		}
	}
}

// With webhook injection the pods meshbench creates carry no sidecar: the
// webhook adds exactly the containers direct injection writes, to the
// workload pods it selects. Delete removes the webhook configuration.
func TestWebhookInjection(t *testing.T) {
	ctx := context.Background()
	client := fakeCluster(t, runningPod, threeNodes()...)
	admitWithWebhook(t, client, true) // runs before fakeCluster's reactor, which sets the status
	p := newTestProvider(t, client, &importRecorder{})
	s := spec("abc0")
	s.Inject.PodContainers = sidecarInjection
	c, err := p.Create(ctx, s)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	hooks, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil || len(hooks.Items) != 1 {
		t.Fatalf("webhook configurations %v, %v; want one", hooks, err)
	}
	w := hooks.Items[0]
	hook := w.Webhooks[0]
	if w.Name != "meshbench-abc0-injector" || w.Labels[RunLabel] != "abc0" || len(w.OwnerReferences) != 1 || w.OwnerReferences[0].Name != "meshbench-abc0" ||
		hook.ClientConfig.Service == nil || hook.ClientConfig.Service.Name != injectorName || len(hook.ClientConfig.CABundle) == 0 ||
		*hook.FailurePolicy != admissionregistrationv1.Fail || hook.NamespaceSelector.MatchLabels[RunLabel] != "abc0" {
		t.Errorf("webhook configuration %+v", w)
	}

	direct := podObject("abc0", s.Services[1], 0, "worker-a", image{}, sidecarInjection)
	names := func(cs []corev1.Container) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	for _, name := range []string{"client-0", "svc-000-0", "svc-000-1"} {
		pod, err := client.CoreV1().Pods("meshbench-abc0").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(pod.Spec.InitContainers), names(direct.Spec.InitContainers)) || !slices.Equal(names(pod.Spec.Containers), names(direct.Spec.Containers)) {
			t.Errorf("%s: init containers %v, containers %v; want %v and %v as direct injection writes", name,
				names(pod.Spec.InitContainers), names(pod.Spec.Containers), names(direct.Spec.InitContainers), names(direct.Spec.Containers))
		}
		if got, want := pod.Spec.InitContainers[0].Command, direct.Spec.InitContainers[0].Command; !slices.Equal(got, want) {
			t.Errorf("%s: init command %q, want %q", name, got, want)
		}
	}
	injector, err := client.CoreV1().Pods("meshbench-abc0").Get(ctx, injectorName, metav1.GetOptions{})
	if err != nil || len(injector.Spec.Containers) != 1 || injector.Labels[RoleLabel] != "" {
		t.Errorf("injector pod %+v, %v: want one container and no role label (the webhook skips it)", injector, err)
	}
	if err := c.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if hooks, _ := client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{}); len(hooks.Items) != 0 {
		t.Errorf("after delete: webhook configurations %v", hooks.Items)
	}
}

// A webhook the API server cannot call admits the pods unmeshed under
// failurePolicy Ignore: the case is a configuration error and nothing of
// it stays.
func TestWebhookNotCalled(t *testing.T) {
	ctx := context.Background()
	client := fakeCluster(t, runningPod, threeNodes()...)
	admitWithWebhook(t, client, false)
	p := newTestProvider(t, client, &importRecorder{})
	p.opts.FailurePolicy = string(admissionregistrationv1.Ignore)
	s := spec("abc0")
	s.Inject.PodContainers = sidecarInjection
	_, err := p.Create(ctx, s)
	if !errors.Is(err, clusters.ErrConfig) {
		t.Fatalf("create: %v, want a configuration error", err)
	}
	if got := namespaces(t, client); len(got) != 0 {
		t.Errorf("namespaces left: %v", got)
	}
	if hooks, _ := client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{}); len(hooks.Items) != 0 {
		t.Errorf("webhook configurations left: %v", hooks.Items)
	}
}

// Direct injection, and datapaths that add no pod containers, register no
// webhook.
func TestNoWebhook(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		inject string
		pods   []clusters.Container
	}{
		{"direct", InjectDirect, sidecarInjection},
		{"nothing to inject", InjectWebhook, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fakeCluster(t, runningPod, threeNodes()...)
			p := newTestProvider(t, client, &importRecorder{})
			p.opts.Inject = tc.inject
			s := spec("abc0")
			s.Inject.PodContainers = tc.pods
			if _, err := p.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			if hooks, _ := client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{}); len(hooks.Items) != 0 {
				t.Errorf("webhook configurations: %v", hooks.Items)
			}
			pod, err := client.CoreV1().Pods("meshbench-abc0").Get(ctx, "client-0", metav1.GetOptions{})
			if err != nil || len(pod.Spec.Containers)+len(pod.Spec.InitContainers) != 1+len(tc.pods) {
				t.Errorf("client pod %v, %v", pod, err)
			}
		})
	}
}

func TestCheckInjectOptions(t *testing.T) {
	for _, tc := range []struct {
		mode, policy string
		ok           bool
	}{
		{"", "", true}, {"webhook", "Ignore", true}, {"direct", "Fail", true},
		{"sidecar", "", false}, {"", "fail", false},
	} {
		if err := CheckInjectOptions(tc.mode, tc.policy); (err == nil) != tc.ok || err != nil && !errors.Is(err, clusters.ErrConfig) {
			t.Errorf("CheckInjectOptions(%q, %q) = %v, want ok %t", tc.mode, tc.policy, err, tc.ok)
		}
	}
}
