package kube_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
	"github.com/meshbench/meshbench/internal/testutil"
)

// TestWebhookOnTestCluster has the real API server call meshbench's
// sidecar injector: a pod the webhook selects comes up with the injected
// container, and one labelled meshbench.dev/inject=false without it,
// because the API server never asked; after Delete neither the namespace
// nor the webhook configuration is left.
func TestWebhookOnTestCluster(t *testing.T) {
	kubeconfig := testutil.KubeCluster(t)
	client := clientFor(t, kubeconfig)
	ctr := "ctr --address " + filepath.Join(filepath.Dir(kubeconfig), "nodes", kube.NodePlaceholder, "containerd.sock") + " --namespace k8s.io"
	t.Cleanup(func() { removeImages(t, client, ctr) })
	imp, err := kube.ImportCommand(strings.Fields(ctr + " images import " + kube.ArchivePlaceholder))
	if err != nil {
		t.Fatal(err)
	}
	p, err := kube.New(kube.Options{Kubeconfig: kubeconfig, Executable: buildStatic(t), Import: imp})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const runID = "7e57a11c0"
	spec := clusters.Spec{
		RunID: runID, Nodes: 2,
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
		Services: []clusters.ServiceSpec{
			{Name: "meshed", Role: "client", Port: 80, TargetPort: 8080, PodNodes: []int{0, 1}},
			{Name: "mislabelled", Role: "client", Port: 80, TargetPort: 8080, PodNodes: []int{1},
				PodLabels: map[string]string{kube.InjectLabel: "false"}},
		},
		Inject: clusters.Injection{PodContainers: []clusters.Container{{Name: "sidecar"}}},
	}
	c, err := p.Create(ctx, spec)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	ns := kube.NamespaceName(runID)
	for _, tc := range []struct {
		pod      string
		injected bool
	}{{"meshed-0", true}, {"meshed-1", true}, {"mislabelled-0", false}} {
		pod, err := client.CoreV1().Pods(ns).Get(ctx, tc.pod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ct := range pod.Spec.Containers {
			names = append(names, ct.Name)
		}
		if got := slices.Contains(names, "sidecar"); got != tc.injected || (pod.Annotations[kubenode.InjectedAnnotation] == "webhook") != tc.injected {
			t.Errorf("%s: containers %v, annotations %v; want injected by the webhook %t", tc.pod, names, pod.Annotations, tc.injected)
		}
	}
	hooks, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: kube.RunLabel + "=" + runID})
	if err != nil || len(hooks.Items) != 1 {
		t.Errorf("webhook configurations during the run: %v, %v; want one", hooks, err)
	}
	if err := c.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after delete: %v, want not found", ns, err)
	}
	hooks, err = client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: kube.RunLabel + "=" + runID})
	if err != nil || len(hooks.Items) != 0 {
		t.Errorf("webhook configurations after delete: %v, %v; want none", hooks, err)
	}
}
