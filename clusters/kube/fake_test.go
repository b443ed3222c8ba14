package kube

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshbench/meshbench/clusters"
)

// fakeNode is a ready amd64 node with an InternalIP; opts change it.
func fakeNode(name, ip string, opts ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244." + ip[len(ip)-1:] + ".0/24"},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeHostName, Address: name},
				{Type: corev1.NodeInternalIP, Address: ip},
			},
			NodeInfo: corev1.NodeSystemInfo{Architecture: "amd64"},
		},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func tainted(n *corev1.Node) {
	n.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
}

func notReady(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }

// podStatus sets what the fake kubelet reports for a new pod; nil leaves
// the pod Pending with no status.
type podStatus func(pod *corev1.Pod, node string, seq int)

// runningPod makes a pod Running on its node with an IP.
func runningPod(pod *corev1.Pod, node string, seq int) {
	pod.Spec.NodeName = node
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = fmt.Sprintf("10.244.9.%d", seq+10)
	pod.Status.ContainerStatuses = nil
	for i, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ContainerID: fmt.Sprintf("containerd://%s-%d", pod.Name, i),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		})
	}
}

// fakeCluster is a fake API server with nodes, that assigns service IPs,
// allows every access review and gives new pods the status set.
func fakeCluster(tb testing.TB, set podStatus, nodes ...*corev1.Node) *fake.Clientset {
	tb.Helper()
	objs := make([]runtime.Object, len(nodes))
	for i, n := range nodes {
		objs[i] = n
	}
	client := fake.NewClientset(objs...)
	var mu sync.Mutex
	services, pods := 0, 0
	client.PrependReactor("create", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		services++
		a.(k8stesting.CreateAction).GetObject().(*corev1.Service).Spec.ClusterIP = fmt.Sprintf("10.96.0.%d", services+10)
		return false, nil, nil
	})
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if set != nil {
			node := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Values[0]
			set(pod, node, pods)
		}
		pods++
		if pod.Status.Phase == corev1.PodRunning {
			// The endpoint slice controller's part; the tracker has a lock
			// of its own, which reactors may take.
			if err := client.Tracker().Create(endpointSlices, endpointSlice(pod), pod.Namespace); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil
	})
	// The DaemonSet controller's part: a pod on every node of the node
	// agents' affinity.
	client.PrependReactor("create", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ds := a.(k8stesting.CreateAction).GetObject().(*appsv1.DaemonSet)
		for _, term := range ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			node := term.MatchFields[0].Values[0]
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: ds.Name + "-" + node, Namespace: ds.Namespace, Labels: ds.Spec.Template.Labels},
				Spec:       *ds.Spec.Template.Spec.DeepCopy(),
			}
			pod.Spec.NodeName = node
			if set != nil {
				mu.Lock()
				set(pod, node, pods)
				pods++
				mu.Unlock()
			}
			if err := client.Tracker().Create(podsResource, pod, pod.Namespace); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil
	})
	allowAll(client, true)
	return client
}

var podsResource = corev1.SchemeGroupVersion.WithResource("pods")

// fakeLocate stands in for the node agents' inspect role: it gives every
// pod and node made-up paths.
func fakeLocate(c *Cluster, _ context.Context, _ map[string]*corev1.Pod) error {
	for i := range c.topo.Nodes {
		n := &c.topo.Nodes[i]
		n.NetNS, n.Cgroup = "/proc/1/ns/net", "kubepods/node-"+n.Name
	}
	for i := range c.topo.Pods {
		p := &c.topo.Pods[i]
		p.NetNS, p.Cgroup = "/proc/2/ns/net", "kubepods/pod-"+p.Name
	}
	return nil
}

var endpointSlices = discoveryv1.SchemeGroupVersion.WithResource("endpointslices")

// endpointSlice is a slice with pod as a ready endpoint of its service.
func endpointSlice(pod *corev1.Pod) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      pod.Name,
			Namespace: pod.Namespace,
			Labels:    map[string]string{discoveryv1.LabelServiceName: pod.Labels[AppLabel]},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{pod.Status.PodIP},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: pod.Namespace},
		}},
	}
}

// allowAll makes every access review answer allowed.
func allowAll(client *fake.Clientset, allowed bool) {
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = allowed
		return true, r, nil
	})
}

// threeNodes is a cluster of three schedulable nodes, listed out of
// order, and two that cannot take pods.
func threeNodes() []*corev1.Node {
	return []*corev1.Node{
		fakeNode("worker-c", "172.18.0.4"),
		fakeNode("control-plane", "172.18.0.2", tainted),
		fakeNode("worker-a", "172.18.0.3"),
		fakeNode("worker-b", "172.18.0.5"),
		fakeNode("worker-d", "172.18.0.6", notReady),
	}
}

// spec is a client on node 0 and a server service with pods on nodes 0
// and 2 of three.
func spec(runID string) clusters.Spec {
	return clusters.Spec{
		RunID:       runID,
		Nodes:       3,
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
		Services: []clusters.ServiceSpec{
			{Name: "client", Role: "client", Port: 80, TargetPort: 8080, PodNodes: []int{0}},
			{Name: "svc-000", Role: "server", Port: 80, TargetPort: 8080, PodNodes: []int{0, 2}},
		},
	}
}

// importRecorder is an ImportFunc that records which nodes imported an
// archive, and checks the archive exists while it imports.
type importRecorder struct {
	mu    sync.Mutex
	nodes []string
	err   error
}

func (r *importRecorder) importArchive(_ context.Context, node, archive string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := os.Stat(archive); err != nil {
		return err
	}
	r.nodes = append(r.nodes, node)
	return r.err
}

// noExec is the exec of providers whose tests start no processes.
func noExec(context.Context, string, string, string, []string, io.Reader, io.Writer, io.Writer) error {
	return fmt.Errorf("no exec in this test")
}

var (
	staticOnce sync.Once
	staticDir  string // removed by TestMain
	staticPath string
	staticErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if staticDir != "" {
		os.RemoveAll(staticDir)
	}
	os.Exit(code)
}

// staticBinary builds, once per test binary, a small statically linked
// program to pack into images.
func staticBinary(tb testing.TB) string {
	tb.Helper()
	staticOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meshbench-kube-test-")
		if err != nil {
			staticErr = err
			return
		}
		staticDir = dir
		src := filepath.Join(dir, "main.go")
		if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
			staticErr = err
			return
		}
		staticPath = filepath.Join(dir, "static")
		cmd := exec.Command("go", "build", "-o", staticPath, src)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticErr = fmt.Errorf("go build: %w: %s", err, out)
		}
	})
	if staticErr != nil {
		tb.Fatalf("build a static binary: %v", staticErr)
	}
	return staticPath
}
