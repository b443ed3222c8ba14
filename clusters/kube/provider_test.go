package kube

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
)

func newTestProvider(tb testing.TB, client *fake.Clientset, imp *importRecorder) *Provider {
	tb.Helper()
	p := newProvider(client, noExec, Options{
		Executable:   staticBinary(tb),
		Import:       imp.importArchive,
		ReadyTimeout: time.Second,
	})
	p.locate = fakeLocate
	return p
}

// namespaces lists the names of the fake cluster's namespaces.
func namespaces(tb testing.TB, client kubernetes.Interface) []string {
	tb.Helper()
	list, err := client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, ns := range list.Items {
		out = append(out, ns.Name)
	}
	slices.Sort(out)
	return out
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	client := fakeCluster(t, runningPod, threeNodes()...)
	imp := &importRecorder{}
	p := newTestProvider(t, client, imp)
	c, err := p.Create(ctx, spec("abc0"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	const ns = "meshbench-abc0"

	t.Run("namespace", func(t *testing.T) {
		got, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Labels[RunLabel] != "abc0" {
			t.Errorf("namespace labels %v, want %s=abc0", got.Labels, RunLabel)
		}
	})
	t.Run("services", func(t *testing.T) {
		svc, err := client.CoreV1().Services(ns).Get(ctx, "svc-000", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		port := svc.Spec.Ports[0]
		if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.Selector[AppLabel] != "svc-000" ||
			port.Port != 80 || port.TargetPort.IntValue() != 8080 || svc.Labels[RunLabel] != "abc0" {
			t.Errorf("service: type %s selector %v port %d->%s labels %v", svc.Spec.Type, svc.Spec.Selector, port.Port, port.TargetPort.String(), svc.Labels)
		}
	})
	t.Run("pods", func(t *testing.T) {
		for _, tc := range []struct{ pod, node string }{
			{"client-0", "worker-a"},
			{"svc-000-0", "worker-a"},
			{"svc-000-1", "worker-c"}, // node index 2 in name order
		} {
			pod, err := client.CoreV1().Pods(ns).Get(ctx, tc.pod, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			term := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0]
			if got := term.MatchFields[0]; got.Key != "metadata.name" || !slices.Equal(got.Values, []string{tc.node}) {
				t.Errorf("%s: node affinity %+v, want metadata.name in [%s]", tc.pod, got, tc.node)
			}
			svc := strings.TrimSuffix(tc.pod, tc.pod[strings.LastIndex(tc.pod, "-"):])
			if pod.Labels[AppLabel] != svc || pod.Labels[RunLabel] != "abc0" {
				t.Errorf("%s: labels %v, want app=%s and %s=abc0", tc.pod, pod.Labels, svc, RunLabel)
			}
			ctr := pod.Spec.Containers[0]
			if !strings.HasPrefix(ctr.Image, ImageRepository+":") || ctr.ImagePullPolicy != corev1.PullNever {
				t.Errorf("%s: image %s pull policy %s, want %s:<digest> Never", tc.pod, ctr.Image, ctr.ImagePullPolicy, ImageRepository)
			}
			if want := []string{BinaryPath, "agent", kubenode.PauseRole}; !slices.Equal(ctr.Command, want) {
				t.Errorf("%s: command %q, want %q", tc.pod, ctr.Command, want)
			}
		}
	})
	t.Run("topology", func(t *testing.T) {
		topo := c.Topology()
		var nodes []string
		for _, n := range topo.Nodes {
			nodes = append(nodes, n.Name+" "+n.IP.String()+" "+n.PodCIDR.String())
		}
		want := []string{"worker-a 172.18.0.3 10.244.3.0/24", "worker-b 172.18.0.5 10.244.5.0/24", "worker-c 172.18.0.4 10.244.4.0/24"}
		if diff := cmp.Diff(want, nodes); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
		var pods []string
		for _, p := range topo.Pods {
			pods = append(pods, p.Name+" "+p.Service+" "+p.Node+" "+p.IP.String())
		}
		want = []string{"client-0 client worker-a 10.244.9.10", "svc-000-0 svc-000 worker-a 10.244.9.11", "svc-000-1 svc-000 worker-c 10.244.9.12"}
		if diff := cmp.Diff(want, pods); diff != "" {
			t.Errorf("pods (-want +got):\n%s", diff)
		}
		svc, _ := topo.Service("svc-000")
		if svc.VIP.String() != "10.96.0.12" || svc.Role != "server" || !slices.Equal(svc.Pods, []string{"svc-000-0", "svc-000-1"}) {
			t.Errorf("service svc-000: %+v", svc)
		}
	})
	t.Run("image imported once per node", func(t *testing.T) {
		if _, err := p.Create(ctx, spec("abc1")); err != nil {
			t.Fatalf("second create: %v", err)
		}
		slices.Sort(imp.nodes)
		if want := []string{"worker-a", "worker-b", "worker-c"}; !slices.Equal(imp.nodes, want) {
			t.Errorf("imported on %v, want %v", imp.nodes, want)
		}
	})
	t.Run("delete", func(t *testing.T) {
		for range 2 { // idempotent
			if err := c.Delete(ctx); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
		if got, want := namespaces(t, client), []string{"meshbench-abc1"}; !slices.Equal(got, want) {
			t.Errorf("namespaces after delete: %v, want %v", got, want)
		}
		if _, err := c.Start(ctx, clusters.ProcSpec{Target: clusters.Target{Pod: "client-0"}, Name: "late"}); err == nil {
			t.Error("start after delete: got nil error")
		}
	})
}

func TestCreateFails(t *testing.T) {
	imageNeverPull := func(pod *corev1.Pod, node string, _ int) {
		pod.Spec.NodeName = node
		pod.Status.Phase = corev1.PodPending
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: clusters.AppContainer, Image: pod.Spec.Containers[0].Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "ErrImageNeverPull", Message: `Container image "localhost/meshbench" is not present with pull policy of Never`,
			}},
		}}
	}
	unschedulable := func(pod *corev1.Pod, _ string, _ int) {
		pod.Status.Phase = corev1.PodPending
		pod.Status.Conditions = []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: "Unschedulable", Message: "0/5 nodes are available: 5 Insufficient cpu.",
		}}
	}
	forbidden := func(resource string) func(*fake.Clientset) {
		return func(c *fake.Clientset) {
			c.PrependReactor("create", resource, func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("user cannot create"))
			})
		}
	}
	for _, tc := range []struct {
		name    string
		nodes   []*corev1.Node
		status  podStatus
		setup   func(*fake.Clientset)
		imp     error
		want    string
		config  bool
		cleaned bool // the namespace was created, then deleted
	}{
		{name: "too few nodes", nodes: threeNodes()[:3], status: runningPod,
			want: "needs 3 schedulable nodes but the cluster has 2 (control-plane: tainted node-role.kubernetes.io/control-plane:NoSchedule)", config: true},
		{name: "no nodes", status: runningPod,
			want: "needs 3 schedulable nodes but the cluster has 0", config: true},
		{name: "import fails", nodes: threeNodes(), status: runningPod, imp: errors.New("ctr: connection refused"),
			want: "ctr: connection refused", config: true},
		{name: "image not loadable", nodes: threeNodes(), status: imageNeverPull,
			want: "cannot get the meshbench image", config: true, cleaned: true},
		{name: "pods stuck pending", nodes: threeNodes(), status: unschedulable,
			want: "6 of 6 pods not running after 1s: pod client-0 (node worker-a) Pending, PodScheduled=False Unschedulable: 0/5 nodes are available", config: true, cleaned: true},
		{name: "namespace forbidden", nodes: threeNodes(), status: runningPod, setup: forbidden("namespaces"),
			want: "forbidden by the cluster's RBAC", config: true},
		{name: "pods forbidden", nodes: threeNodes(), status: runningPod, setup: forbidden("pods"),
			want: "create pod client-0: forbidden", config: true, cleaned: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fakeCluster(t, tc.status, tc.nodes...)
			var created bool
			client.PrependReactor("create", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
				created = true
				return false, nil, nil
			})
			if tc.setup != nil {
				tc.setup(client)
			}
			p := newTestProvider(t, client, &importRecorder{err: tc.imp})
			_, err := p.Create(context.Background(), spec("abc0"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create: got error %v, want one containing %q", err, tc.want)
			}
			if got := errors.Is(err, clusters.ErrConfig); got != tc.config {
				t.Errorf("errors.Is(err, clusters.ErrConfig) = %v, want %v", got, tc.config)
			}
			if created != tc.cleaned {
				t.Errorf("namespace created: %v, want %v", created, tc.cleaned)
			}
			if got := namespaces(t, client); len(got) != 0 {
				t.Errorf("namespaces left: %v", got)
			}
		})
	}
}

// TestCreateRunIDInUse checks that a second cluster with the same run id
// fails without deleting the first.
func TestCreateRunIDInUse(t *testing.T) {
	ctx := context.Background()
	client := fakeCluster(t, runningPod, threeNodes()...)
	p := newTestProvider(t, client, &importRecorder{})
	if _, err := p.Create(ctx, spec("abc0")); err != nil {
		t.Fatal(err)
	}
	_, err := p.Create(ctx, spec("abc0"))
	if err == nil || !strings.Contains(err.Error(), "run id is in use") {
		t.Fatalf("second create: got %v, want run id in use", err)
	}
	if got := namespaces(t, client); !slices.Equal(got, []string{"meshbench-abc0"}) {
		t.Errorf("namespaces: %v, want the first cluster's", got)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   func(*Options)
		allow  bool
		nodes  []*corev1.Node
		want   string // "" for no error
		config bool
	}{
		{name: "ok", allow: true, nodes: threeNodes()},
		{name: "no image option", allow: true, nodes: threeNodes(), opts: func(o *Options) { o.Import = nil },
			want: "say how the nodes get the meshbench image", config: true},
		{name: "both image options", allow: true, nodes: threeNodes(), opts: func(o *Options) { o.Registry = "registry.example/mb" },
			want: "say how the nodes get the meshbench image", config: true},
		{name: "rbac", allow: false, nodes: threeNodes(),
			want: "may not list nodes, create namespaces", config: true},
		{name: "nodes", allow: true, nodes: threeNodes()[2:],
			want: "needs 3 schedulable nodes but the cluster has 2", config: true},
		{name: "dynamic executable", allow: true, nodes: threeNodes(), opts: func(o *Options) { o.Executable = "/bin/true" },
			want: "is dynamically linked", config: true},
		{name: "architecture", allow: true, nodes: []*corev1.Node{
			fakeNode("a", "172.18.0.2"), fakeNode("b", "172.18.0.3"),
			fakeNode("c", "172.18.0.4", func(n *corev1.Node) { n.Status.NodeInfo.Architecture = "arm64" }),
		}, want: "node c runs arm64 but the meshbench executable is built for amd64", config: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fakeCluster(t, nil, tc.nodes...)
			allowAll(client, tc.allow)
			opts := Options{Executable: staticBinary(t), Import: (&importRecorder{}).importArchive}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			err := newProvider(client, noExec, opts).Check(context.Background(), clusters.Need{Nodes: 3})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.want == "":
				return
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("check: got %v, want an error containing %q", err, tc.want)
			}
			if got := errors.Is(err, clusters.ErrConfig); got != tc.config {
				t.Errorf("errors.Is(err, clusters.ErrConfig) = %v, want %v", got, tc.config)
			}
		})
	}
}

// An enrolment needs more of RBAC than a run: without the right to add
// ephemeral containers Check refuses it, in one sentence that says what
// for, and lets a run without enrolment pass.
func TestCheckEnrolPermissions(t *testing.T) {
	client := fakeCluster(t, nil, threeNodes()...)
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = r.Spec.ResourceAttributes.Subresource != "ephemeralcontainers"
		return true, r, nil
	})
	p := newProvider(client, noExec, Options{Executable: staticBinary(t), Import: (&importRecorder{}).importArchive})
	if err := p.Check(context.Background(), clusters.Need{Nodes: 3}); err != nil {
		t.Fatalf("check without enrolment: %v", err)
	}
	err := p.Check(context.Background(), clusters.Need{Nodes: 3, Enrol: true})
	if !errors.Is(err, clusters.ErrConfig) || !strings.Contains(err.Error(), "may not update pods/ephemeralcontainers (RBAC) to enrol a datapath") {
		t.Errorf("check with enrolment: %v, want a configuration error naming pods/ephemeralcontainers", err)
	}
}

func TestUnschedulable(t *testing.T) {
	for _, tc := range []struct {
		name string
		node *corev1.Node
		want string
	}{
		{"ready", fakeNode("n", "10.0.0.1"), ""},
		{"not ready", fakeNode("n", "10.0.0.1", notReady), "not ready"},
		{"cordoned", fakeNode("n", "10.0.0.1", func(n *corev1.Node) { n.Spec.Unschedulable = true }), "cordoned"},
		{"control plane", fakeNode("n", "10.0.0.1", tainted), "tainted node-role.kubernetes.io/control-plane:NoSchedule"},
		{"prefer no schedule", fakeNode("n", "10.0.0.1", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectPreferNoSchedule}}
		}), ""},
		{"no ready condition", fakeNode("n", "10.0.0.1", func(n *corev1.Node) { n.Status.Conditions = nil }), "not ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unschedulable(tc.node); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCleanup(t *testing.T) {
	ctx := context.Background()
	ns := func(name string, labels map[string]string) runtime.Object {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	client := fake.NewClientset(
		ns("meshbench-0a1b2c3d0", map[string]string{RunLabel: "0a1b2c3d0"}),
		ns("meshbench-0a1b2c3d1", map[string]string{RunLabel: "0a1b2c3d1"}),
		// Another run's, whose label starts with the first run's id.
		ns("meshbench-0a1b2c3dff0", map[string]string{RunLabel: "0a1b2c3dff0"}),
		ns("meshbench-mine", nil), // not ours: no label
		ns("default", nil),
	)
	p := newProvider(client, noExec, Options{})
	for _, tc := range []struct {
		runID       string // "" for CleanupAll
		wantDeleted []string
		wantLeft    []string
	}{
		{"0a1b2c3d", []string{"deleted namespace meshbench-0a1b2c3d0", "deleted namespace meshbench-0a1b2c3d1"}, []string{"default", "meshbench-0a1b2c3dff0", "meshbench-mine"}},
		{"0a1b2c3d", nil, []string{"default", "meshbench-0a1b2c3dff0", "meshbench-mine"}},
		{"", []string{"deleted namespace meshbench-0a1b2c3dff0"}, []string{"default", "meshbench-mine"}},
	} {
		cleanup := func(ctx context.Context) ([]string, error) { return p.Cleanup(ctx, tc.runID) }
		if tc.runID == "" {
			cleanup = p.CleanupAll
		}
		deleted, err := cleanup(ctx)
		if err != nil {
			t.Fatalf("cleanup %q: %v", tc.runID, err)
		}
		if !slices.Equal(deleted, tc.wantDeleted) {
			t.Errorf("cleanup %q deleted %q, want %q", tc.runID, deleted, tc.wantDeleted)
		}
		if got := namespaces(t, client); !slices.Equal(got, tc.wantLeft) {
			t.Errorf("after cleanup %q: namespaces %v, want %v", tc.runID, got, tc.wantLeft)
		}
	}
	// A prefix of a run id would match other runs' namespaces.
	for _, id := range []string{"", "0a", "0a1b2c3d0"} {
		if deleted, err := p.Cleanup(ctx, id); err == nil || len(deleted) > 0 {
			t.Errorf("Cleanup(%q) = %q, %v; want an error and nothing deleted", id, deleted, err)
		}
	}
	if got, want := namespaces(t, client), []string{"default", "meshbench-mine"}; !slices.Equal(got, want) {
		t.Errorf("after refused cleanups: namespaces %v, want %v", got, want)
	}
}

func TestValidate(t *testing.T) {
	ok := spec("abc0")
	for _, tc := range []struct {
		name string
		edit func(*clusters.Spec)
		want string
	}{
		{"bad run id", func(s *clusters.Spec) { s.RunID = "ABC" }, `run id "ABC"`},
		{"no nodes", func(s *clusters.Spec) { s.Nodes = 0 }, "0 nodes"},
		{"bad service name", func(s *clusters.Spec) { s.Services[0].Name = "Client" }, `service "Client"`},
		{"duplicate service", func(s *clusters.Spec) { s.Services[1].Name = "client" }, "defined twice"},
		{"bad port", func(s *clusters.Spec) { s.Services[0].Port = 0 }, "ports 0 and 8080"},
		{"node out of range", func(s *clusters.Spec) { s.Services[1].PodNodes = []int{3} }, "node index 3 out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			s.Services = slices.Clone(ok.Services)
			tc.edit(&s)
			if err := validate(s); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := validate(ok); err != nil {
		t.Errorf("valid spec: %v", err)
	}
}

// TestPrepareImage checks that the image goes to the nodes a run will use,
// and that Create imports it only on the nodes that lack it.
func TestPrepareImage(t *testing.T) {
	ctx := context.Background()
	client := fakeCluster(t, runningPod, threeNodes()...)
	imp := &importRecorder{}
	p := newTestProvider(t, client, imp)
	if err := p.PrepareImage(ctx, clusters.Need{Nodes: 2}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"worker-a", "worker-b"}; !slices.Equal(slices.Sorted(slices.Values(imp.nodes)), want) {
		t.Errorf("prepared on %v, want %v", imp.nodes, want)
	}
	if _, err := p.Create(ctx, spec("abc0")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"worker-a", "worker-b", "worker-c"}; !slices.Equal(slices.Sorted(slices.Values(imp.nodes)), want) {
		t.Errorf("imported on %v, want %v", imp.nodes, want)
	}
}
