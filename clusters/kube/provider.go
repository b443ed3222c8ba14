package kube

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshbench/meshbench/clusters"
)

// DefaultReadyTimeout bounds the wait for a cluster's pods to run.
const DefaultReadyTimeout = 2 * time.Minute

const (
	// teardownTimeout bounds the teardown after a failed or cancelled Create.
	teardownTimeout = time.Minute
	// endpointsMinWait is the least time the service endpoints get after
	// the pods run.
	endpointsMinWait = 10 * time.Second
	// checkTimeout bounds Check, most of all against an API server that
	// does not answer.
	checkTimeout = 20 * time.Second
)

// Options configure the provider. Exactly one of Registry and Import says
// how the nodes get the meshbench image.
type Options struct {
	// Kubeconfig is the kubeconfig file; empty means client-go's default
	// rules: $KUBECONFIG, ~/.kube/config, or the in-cluster config.
	Kubeconfig string
	// Executable is the static Linux meshbench binary that the pods' image
	// wraps; empty means clusters.AgentExecutable.
	Executable string
	// Registry is a repository (host/path/name) the image is pushed to and
	// pulled from by digest. Credentials come from the Docker config.
	Registry string
	// Import makes an image archive available on a node, for clusters
	// without a registry (kind, the local test cluster); pods then never
	// pull. The archive is imported once per node and provider.
	Import ImportFunc
	// ReadyTimeout bounds the wait for pods to run; zero means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Inject says how a datapath's pod containers get into the pods:
	// InjectWebhook (the default) or InjectDirect.
	Inject string
	// FailurePolicy is the injector webhook's failurePolicy, "Fail" (the
	// default) or "Ignore".
	FailurePolicy string
}

// CheckInjectOptions checks the injection mode and the webhook's failure
// policy, as the command line gives them; the errors wrap
// clusters.ErrConfig.
func CheckInjectOptions(mode, policy string) error {
	if mode != "" && mode != InjectWebhook && mode != InjectDirect {
		return configErrorf("--inject %q: want %s or %s", mode, InjectWebhook, InjectDirect)
	}
	if policy != "" && policy != string(admissionregistrationv1.Fail) && policy != string(admissionregistrationv1.Ignore) {
		return configErrorf("--webhook-failure-policy %q: want %s or %s", policy, admissionregistrationv1.Fail, admissionregistrationv1.Ignore)
	}
	return nil
}

// Provider creates clusters in namespaces of an existing Kubernetes cluster.
type Provider struct {
	client kubernetes.Interface
	exec   execFunc
	opts   Options
	// locate fills the topology's paths on the nodes ((*Cluster).locate;
	// tests without nodes replace it).
	locate func(*Cluster, context.Context, map[string]*corev1.Pod) error

	mu       sync.Mutex // serialises image preparation
	img      v1.Image
	arch     string
	pushed   image           // the image's pull reference once pushed
	imported map[string]bool // nodes that have the archive
}

var (
	_ clusters.Provider      = (*Provider)(nil)
	_ clusters.ImagePreparer = (*Provider)(nil)
	_ clusters.Serial        = (*Provider)(nil)
	_ clusters.Cluster       = (*Cluster)(nil)
)

// New returns a provider for the cluster opts.Kubeconfig names. A
// kubeconfig that cannot be loaded is an error wrapping clusters.ErrConfig; New does
// not contact the cluster (Check does).
func New(opts Options) (*Provider, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = opts.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, configErrorf("load the kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config): %w", err)
	}
	// A run creates and polls hundreds of objects; client-go's default of
	// 5 requests/s would make that minutes.
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, configErrorf("connect to the cluster of the kubeconfig: %w", err)
	}
	return newProvider(client, restExec(cfg, client.CoreV1().RESTClient()), opts), nil
}

func newProvider(client kubernetes.Interface, exec execFunc, opts Options) *Provider {
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.Inject == "" {
		opts.Inject = InjectWebhook
	}
	if opts.FailurePolicy == "" {
		opts.FailurePolicy = string(admissionregistrationv1.Fail)
	}
	return &Provider{client: client, exec: exec, opts: opts, imported: map[string]bool{}, locate: (*Cluster).locate}
}

// Serial reports true: the run's clusters are namespaces of one
// Kubernetes cluster, whose nodes two cases' datapaths cannot share.
func (p *Provider) Serial() bool { return true }

// Client returns the provider's Kubernetes client.
func (p *Provider) Client() kubernetes.Interface { return p.client }

// Check reports, changing nothing, whether the provider can create
// clusters of up to need.Nodes nodes: the API server answers, the kubeconfig's
// user may do what a run does, enough nodes are schedulable, the image
// has a way to the nodes and the executable can be packed for their
// architecture. Its errors wrap clusters.ErrConfig, apart from a cancelled ctx.
func (p *Provider) Check(ctx context.Context, need clusters.Need) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if (p.opts.Registry == "") == (p.opts.Import == nil) {
		return configErrorf("say how the nodes get the meshbench image: either push it to a registry (--image-registry) or import an archive on each node (--image-import)")
	}
	picked, err := pickNodes(ctx, p.client, need.Nodes)
	if err != nil {
		return err
	}
	if err := checkAccess(ctx, p.client); err != nil {
		return err
	}
	if need.Enrol {
		if err := checkPermissions(ctx, p.client, enrolPermissions, "enrol a datapath into the running cluster (label it, replace its pods, add containers to running ones)"); err != nil {
			return err
		}
	}
	arch, err := StaticExecutable(p.executable())
	if err != nil {
		return err
	}
	return checkArch(picked, arch)
}

// PrepareImage builds the meshbench image and makes it available on the
// nodes that clusters of up to need.Nodes nodes use, as Create does when it
// needs to: after Check, it reports a failing push or import (wrapping
// clusters.ErrConfig) before the first cluster is made.
func (p *Provider) PrepareImage(ctx context.Context, need clusters.Need) error {
	picked, err := pickNodes(ctx, p.client, need.Nodes)
	if err != nil {
		return err
	}
	_, err = p.prepareImage(ctx, picked)
	return err
}

func (p *Provider) executable() string {
	if p.opts.Executable != "" {
		return p.opts.Executable
	}
	// On error the empty path makes StaticExecutable fail.
	exe, _, _ := clusters.AgentExecutable()
	return exe
}

// checkArch makes sure every node can run a binary for arch.
func checkArch(nodes []corev1.Node, arch string) error {
	for _, n := range nodes {
		if a := n.Status.NodeInfo.Architecture; a != "" && a != arch {
			return configErrorf("node %s runs %s but the meshbench executable is built for %s: build one with GOARCH=%s CGO_ENABLED=0", n.Name, a, arch, a)
		}
	}
	return nil
}

// Create makes the cluster for spec: the namespace of the run, a ClusterIP
// service per service and the pods on their nodes, and waits until every
// pod runs and is an endpoint of its service. On any error, including ctx being cancelled, it deletes the
// namespace before returning. Errors the user must fix (nodes, RBAC,
// unreachable cluster, image not loadable, pods that cannot be scheduled)
// wrap clusters.ErrConfig.
func (p *Provider) Create(ctx context.Context, spec clusters.Spec) (clusters.Cluster, error) {
	if err := validate(spec); err != nil {
		return nil, fmt.Errorf("plan cluster: %w", err)
	}
	nodes, err := pickNodes(ctx, p.client, spec.Nodes)
	if err != nil {
		return nil, err
	}
	img, err := p.prepareImage(ctx, nodes)
	if err != nil {
		return nil, err
	}
	webhook := p.opts.Inject == InjectWebhook && len(spec.Inject.PodContainers) > 0
	if webhook {
		if err := checkPermissions(ctx, p.client, webhookPermissions, "register the sidecar injector webhook (or use --inject direct)"); err != nil {
			return nil, err
		}
	}
	ns := NamespaceName(spec.RunID)
	if _, err := p.client.CoreV1().Namespaces().Create(ctx, namespaceObject(spec.RunID, spec.NamespaceLabels), metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Deleting it on the way out would remove another run's cluster.
			return nil, fmt.Errorf("namespace %s exists: the run id is in use; pick another or run `meshbench cleanup --provider kube`", ns)
		}
		return nil, apiError("create namespace "+ns, err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{
		client: p.client,
		exec:   p.exec,
		topo:   &clusters.Topology{RunID: spec.RunID, Name: ns, NamespaceLabels: spec.NamespaceLabels},
		ctx:    cctx,
		cancel: cancel,
	}
	for i := range nodes {
		c.topo.Nodes = append(c.topo.Nodes, topologyNode(&nodes[i]))
	}
	var policy admissionregistrationv1.FailurePolicyType
	if webhook {
		policy = admissionregistrationv1.FailurePolicyType(p.opts.FailurePolicy)
	}
	if err := c.build(ctx, spec, img, p.opts.ReadyTimeout, policy, p.locate); err != nil {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
		defer cancel()
		if derr := c.Delete(tctx); derr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", derr))
		}
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	return c, nil
}

// deploy creates a Deployment of pod (deploymentObject) and waits at most
// timeout until its ReplicaSet has made the pod, whose name it returns.
func (c *Cluster) deploy(ctx context.Context, pod *corev1.Pod, timeout time.Duration) (string, error) {
	if _, err := c.client.AppsV1().Deployments(pod.Namespace).Create(ctx, deploymentObject(pod), metav1.CreateOptions{}); err != nil {
		return "", apiError("create deployment "+pod.Name, err)
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		list, err := c.client.CoreV1().Pods(pod.Namespace).List(tctx, metav1.ListOptions{LabelSelector: deploymentLabel + "=" + pod.Name})
		if err != nil && tctx.Err() == nil {
			return "", apiError("list the pods of deployment "+pod.Name, err)
		}
		if err == nil {
			for _, p := range list.Items {
				if p.DeletionTimestamp == nil {
					return p.Name, nil
				}
			}
		}
		select {
		case <-tctx.Done():
			if err := ctx.Err(); err != nil {
				return "", fmt.Errorf("wait for the pod of deployment %s: %w", pod.Name, err)
			}
			return "", configErrorf("deployment %s made no pod within %s: is the cluster's deployment controller running, and does a quota or policy refuse the pod?", pod.Name, timeout)
		case <-time.After(pollEvery):
		}
	}
}

// build creates the services, the pods and the node agents, waits until
// the pods run and the services have them as endpoints, and fills the
// topology from what the cluster assigned (service IPs, pod IPs) and what
// the node agents found on their nodes (namespaces, cgroups, veths). With
// a webhook policy, the injector webhook adds the datapath's pod
// containers to the pods; without, the pod objects carry them.
func (c *Cluster) build(ctx context.Context, spec clusters.Spec, img image, timeout time.Duration,
	webhook admissionregistrationv1.FailurePolicyType, locate func(*Cluster, context.Context, map[string]*corev1.Pod) error) error {
	core := c.client.CoreV1()
	ns := c.topo.Name
	inject := spec.Inject.PodContainers
	c.img, c.inject, c.readyTimeout = img, inject, timeout
	if webhook != "" {
		if err := c.startInjector(ctx, spec.RunID, img, inject, webhook, timeout); err != nil {
			return err
		}
		inject = nil
	}
	own := map[string]bool{} // the datapath's own services
	for _, s := range spec.Inject.Services {
		own[s.Name] = true
	}
	placed := map[string]string{} // pod name -> node name
	for _, s := range spec.Services {
		svc, err := core.Services(ns).Create(ctx, serviceObject(spec.RunID, s), metav1.CreateOptions{})
		if err != nil {
			return apiError("create service "+s.Name, err)
		}
		vip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil {
			return fmt.Errorf("service %s: cluster IP %q: %w", s.Name, svc.Spec.ClusterIP, err)
		}
		ts := clusters.Service{Name: s.Name, Role: s.Role, VIP: vip, Port: s.Port, TargetPort: s.TargetPort}
		direct := inject
		if !clusters.Injected(spec.NamespaceLabels, s.PodLabels) {
			// Injected directly by the labels a mesh's injector reads.
			direct = nil
		}
		for k, ni := range s.PodNodes {
			node := c.topo.Nodes[ni].Name
			obj := podObject(spec.RunID, s, k, node, img, direct)
			name := obj.Name
			if own[s.Name] {
				var err error
				if name, err = c.deploy(ctx, obj, timeout); err != nil {
					return err
				}
			} else if _, err := core.Pods(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				return webhookError(apiError("create pod "+obj.Name, err))
			}
			placed[name] = node
			ts.Pods = append(ts.Pods, name)
			c.topo.Pods = append(c.topo.Pods, clusters.Pod{Name: name, Service: s.Name, Node: node, Labels: s.PodLabels})
		}
		c.topo.Services = append(c.topo.Services, ts)
	}
	nodes := make([]string, len(c.topo.Nodes))
	for i, n := range c.topo.Nodes {
		nodes[i] = n.Name
	}
	ds := nodeAgentObject(spec.RunID, nodes, img, spec.Inject.NodeContainers)
	if _, err := c.client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return apiError("create the node agents' DaemonSet", err)
	}
	var err error
	if c.nodeAgents, err = waitNodeAgents(ctx, c.client, ns, spec.RunID, nodes, timeout); err != nil {
		return err
	}
	for node, pod := range c.nodeAgents {
		placed[pod] = node
	}
	deadline := time.Now().Add(timeout)
	running, err := waitRunning(ctx, c.client, ns, placed, timeout)
	if err != nil {
		return err
	}
	if webhook != "" {
		if err := checkInjected(running, spec.NamespaceLabels, spec.Inject.PodContainers); err != nil {
			return err
		}
	}
	want := map[string]int{}
	for _, s := range spec.Services {
		if len(s.PodNodes) > 0 {
			want[s.Name] = len(s.PodNodes)
		}
	}
	if err := waitEndpoints(ctx, c.client, ns, want, max(time.Until(deadline), endpointsMinWait)); err != nil {
		return err
	}
	for i := range c.topo.Pods {
		tp := &c.topo.Pods[i]
		pod := running[tp.Name]
		if pod.Spec.NodeName != tp.Node {
			return fmt.Errorf("pod %s runs on node %s, not on %s as placed", tp.Name, pod.Spec.NodeName, tp.Node)
		}
		if tp.IP, err = netip.ParseAddr(pod.Status.PodIP); err != nil {
			return fmt.Errorf("pod %s: IP %q: %w", tp.Name, pod.Status.PodIP, err)
		}
	}
	if err := locate(c, ctx, running); err != nil {
		return err
	}
	return c.fillRanges()
}
