// Package clusters describes a provisioned Kubernetes-shaped cluster and the
// providers that own its lifecycle: they check a host or cluster before a
// run, create a cluster per case, and clean up what killed or retained
// runs left. The description (Topology) is plain data; a Cluster adds the
// live operations datapaths and the runner need. The command line knows
// providers only by this package's Provider interface.
package clusters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"path"
	"slices"
	"time"
)

// ErrConfig is wrapped by every provider error the user must fix in the
// configuration (kubeconfig, permissions, nodes, image, container engine),
// whether found before the run or when a cluster is created. The command
// line exits with code 2 on it.
var ErrConfig = errors.New("cluster provider configuration")

// configError is a configuration error: its message is the sentence the
// user reads; errors.Is finds both ErrConfig and the cause.
type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{e.err, ErrConfig} }

// ConfigErrorf formats a configuration error, wrapping ErrConfig.
func ConfigErrorf(format string, args ...any) error {
	return configError{fmt.Errorf(format, args...)}
}

// ErrNotRoot is returned by providers that need root and do not have it;
// like ErrConfig, the command line exits with code 2 on it.
var ErrNotRoot = errors.New("meshbench needs root for the netns provider: run it with sudo or as root")

// Spec is what a provider needs to build a cluster for one case.
type Spec struct {
	// RunID names everything the run creates (namespaces, links, cgroups).
	RunID string
	// Nodes is the number of nodes (>= 1).
	Nodes int
	// PodCIDR is split into one /24 per node; ServiceCIDR holds the virtual IPs.
	PodCIDR     netip.Prefix
	ServiceCIDR netip.Prefix
	// Services to create, with their pods already placed on nodes by index.
	Services []ServiceSpec
	// Inject holds the containers a datapath adds to the cluster.
	Inject Injection
	// NamespaceLabels label the namespace the pods run in; its
	// InjectLabel is the default of pods without one.
	NamespaceLabels map[string]string
}

// InjectLabel is the label a mesh's injector reads, on a pod and, as the
// default of its pods, on their namespace (Istio's sidecar.istio.io/inject
// and istio-injection): "false" keeps the injected containers out of the
// pod. A pod without it takes its namespace's; neither set injects, so that
// a spec written without labels meshes every pod.
const InjectLabel = "meshbench.dev/inject"

// Injected reports whether an injector adds its containers to a pod with
// labels pod in a namespace with labels ns.
func Injected(ns, pod map[string]string) bool {
	if v, ok := pod[InjectLabel]; ok {
		return v != "false"
	}
	return ns[InjectLabel] != "false"
}

// Injection is what a datapath adds to a cluster before its pods start, as
// a mesh's injector and its DaemonSets do.
type Injection struct {
	// PodContainers are added to every pod: the sidecar's init container
	// that installs its redirect rules and its proxy container.
	PodContainers []Container
	// NodeContainers name extra containers of the node agents (the node
	// proxy's), so that the processes started in them are accounted apart.
	NodeContainers []string
	// Services are the datapath's own services, each with pods of its own
	// placed by node index (ambient's waypoints, Deployments in Istio).
	// The runner creates them with the workloads' services and runs no
	// workload in them: the datapath starts its processes in their pods'
	// AppContainer.
	Services []ServiceSpec
}

// AppContainer is the pod container the workloads run in; every provider
// has it.
const AppContainer = "app"

// Container is a container a datapath adds to every pod.
type Container struct {
	Name string
	// Init containers run Args (after the meshbench executable) to
	// completion before the pod's other containers start; other containers
	// idle until processes are started in them.
	Init bool
	Args []string
	// NetAdmin grants CAP_NET_ADMIN and CAP_NET_RAW (an init container that
	// programs netfilter, a proxy that reads its counters).
	NetAdmin bool
}

// ServiceSpec is one service: its pods (each placed on a node index) and port.
type ServiceSpec struct {
	Name string
	// Port is the service (virtual IP) port; TargetPort the pods' port.
	Port       int
	TargetPort int
	// PodNodes holds, for each pod of the service, the index of its node.
	PodNodes []int
	// Role is a free-form label ("client", "server") the runner uses.
	Role string
	// PodLabels are more labels of the service's pods, by which an
	// injector decides as a mesh's does (InjectLabel).
	PodLabels map[string]string
}

// Topology is the live cluster as data: names, addresses and where things are.
type Topology struct {
	RunID string
	Name  string
	// ServiceCIDR holds every service virtual IP.
	ServiceCIDR netip.Prefix
	// FabricNetNS is the path of the namespace joining the nodes (kind's
	// docker network), if the provider has one.
	FabricNetNS string
	Nodes       []Node
	Services    []Service
	Pods        []Pod
	// NamespaceLabels are Spec.NamespaceLabels.
	NamespaceLabels map[string]string
}

// Node is one kind-shaped node.
type Node struct {
	Name    string
	IP      netip.Addr   // address on the fabric (kind's docker network)
	PodCIDR netip.Prefix // this node's pod range
	// NetNS is the path of the node's network namespace (bind mount).
	NetNS string
	// Cgroup is the node's cgroup (v2 path relative to the cgroup2 mount);
	// on the netns provider pod cgroups are its children.
	Cgroup string
	// PodCgroupRoot is the cgroup every pod of the node lies below (v2,
	// relative to the cgroup2 mount): on netns the node's Cgroup, which
	// also holds the node's own processes; on kube the kubelet's pod
	// cgroup root (kubepods). Empty where the provider cannot tell.
	PodCgroupRoot string
	// Containers maps the node agent's containers to their cgroups, where
	// the provider runs containers; elsewhere a container is the child of
	// Cgroup named after it.
	Containers map[string]string
}

// ContainerCgroup is the cgroup processes started in the node's container
// name run in.
func (n Node) ContainerCgroup(name string) string {
	return containerCgroup(n.Cgroup, n.Containers, name)
}

func containerCgroup(cgroup string, containers map[string]string, name string) string {
	if cg, ok := containers[name]; ok {
		return cg
	}
	return path.Join(cgroup, name)
}

// Pod is one pod: a network namespace joined to its node by a veth pair.
type Pod struct {
	Name    string
	Service string
	Node    string
	IP      netip.Addr
	NetNS   string // path of the pod's network namespace
	Cgroup  string // v2 path relative to the cgroup2 mount
	Veth    string // host-side (node namespace) veth name
	PodVeth string // pod-side interface name (eth0)
	// Containers maps the pod's containers to their cgroups, where the
	// provider runs containers; elsewhere a container is the child of
	// Cgroup named after it.
	Containers map[string]string
	// Labels are the pod's service's (ServiceSpec.Labels).
	Labels map[string]string
}

// ContainerCgroup is the cgroup processes started in the pod's container
// name run in.
func (p Pod) ContainerCgroup(name string) string {
	return containerCgroup(p.Cgroup, p.Containers, name)
}

// Service is a service virtual IP load-balanced to its pods.
type Service struct {
	Name       string
	Role       string
	VIP        netip.Addr
	Port       int
	TargetPort int
	Pods       []string
}

// Node returns the node with the given name.
func (t *Topology) Node(name string) (Node, bool) {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// RetiredPod returns pod name for a Roller to delete: it must exist and be
// no endpoint of its service any more.
func (t *Topology) RetiredPod(name string) (Pod, error) {
	p, ok := t.Pod(name)
	switch {
	case !ok:
		return Pod{}, fmt.Errorf("delete pod %s: no such pod", name)
	case slices.ContainsFunc(t.Services, func(s Service) bool { return slices.Contains(s.Pods, name) }):
		return Pod{}, fmt.Errorf("delete pod %s: it is still an endpoint of its service", name)
	}
	return p, nil
}

// WithLabel returns a copy of labels (nil for none) with key set to value,
// for a Roller's SetNamespaceLabel: the topology's maps are replaced, not
// changed, under readers.
func WithLabel(labels map[string]string, key, value string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	out[key] = value
	return out
}

// Pod returns the pod with the given name.
func (t *Topology) Pod(name string) (Pod, bool) {
	for _, p := range t.Pods {
		if p.Name == name {
			return p, true
		}
	}
	return Pod{}, false
}

// Service returns the service with the given name.
func (t *Topology) Service(name string) (Service, bool) {
	for _, s := range t.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Injected reports whether the injector added its containers to pod p, as
// the labels of p and of its namespace decide (see InjectLabel).
func (t *Topology) Injected(p Pod) bool { return Injected(t.NamespaceLabels, p.Labels) }

// PodsOn returns the pods placed on a node.
func (t *Topology) PodsOn(node string) []Pod {
	var out []Pod
	for _, p := range t.Pods {
		if p.Node == node {
			out = append(out, p)
		}
	}
	return out
}

// Target says where a process runs: in a pod, or in a node's namespace.
// Exactly one of Pod and Node is set.
type Target struct {
	Pod  string
	Node string
}

// ProcSpec is a process to start inside a pod or node.
type ProcSpec struct {
	Target Target
	// Name identifies the process in errors and cleanup ("server", "sidecar").
	Name string
	// Args follow the meshbench executable, e.g. {"agent", "server", ...}.
	Args []string
	// Container is the container the process runs in, named as in
	// Injection or by the runner ("app"); empty means the target's default
	// one. Providers without containers run it in the child cgroup of the
	// target's named after it (clusters.Pod.ContainerCgroup).
	Container string
	// Stderr receives the process's stderr; nil discards it (a tail is still
	// kept for error messages).
	Stderr io.Writer
	// Caps are the capabilities the process needs beyond those of its
	// container (an injected Container's NetAdmin): a node agent's, such
	// as the eBPF loader's. Providers that start processes themselves
	// (netns) give a process these and no others; where a container
	// runtime decides (kube, kind), node agents run in a privileged
	// container and Caps is not narrowed further.
	Caps []Capability
	// StateDir is the directory the process writes the files it is
	// handed in (agent.FilesOnStdin), if any. A provider that gives pod
	// processes a private mount namespace (netns) shows them only the
	// executable, a /proc and this directory of the host's file system.
	StateDir string
}

// Capability is a Linux capability (capabilities(7)) a process may keep.
type Capability string

// The capabilities meshbench's agents need.
const (
	CapNetAdmin  Capability = "CAP_NET_ADMIN"
	CapNetRaw    Capability = "CAP_NET_RAW"
	CapBPF       Capability = "CAP_BPF"
	CapPerfmon   Capability = "CAP_PERFMON"
	CapSysAdmin  Capability = "CAP_SYS_ADMIN"
	CapSysPtrace Capability = "CAP_SYS_PTRACE"
)

// Process is a running agent with its control pipes.
type Process interface {
	Pid() int
	// Stdin and Stdout carry the internal/wire protocol.
	Stdin() io.Writer
	Stdout() io.Reader
	// Wait returns when the process exits; its error includes the tail of
	// stderr.
	Wait() error
	// Stop signals the process and waits at most grace before killing it.
	Stop(grace time.Duration) error
}

// Cluster is a live cluster.
type Cluster interface {
	Topology() *Topology
	// Start runs the meshbench executable with spec.Args inside the target.
	Start(ctx context.Context, spec ProcSpec) (Process, error)
	// Delete tears down everything the cluster created; it is idempotent.
	Delete(ctx context.Context) error
}

// Reusable is implemented by clusters that can host another case of their
// run once a case is done with them: the runner uninstalls the case's
// datapath, asks for the Residue, and only when nothing is left hands the
// cluster, with the next datapath's injection, to a case whose Spec equals
// the cluster's but for RunID and Inject (the services Inject adds are in
// Spec.Services, so they are equal too).
type Reusable interface {
	// Residue lists what the processes and datapaths the cluster hosted
	// left in it beyond what Create made, one item a string ("process
	// 1234 (meshbench) in pod client-0", "nftables table ip mb-x in node
	// n1"); none means the cluster is as Create left it.
	Residue(ctx context.Context) ([]string, error)
	// Inject gives the cluster inject's containers in place of those it
	// was created or last injected with, as Create applies Spec.Inject: it
	// runs inject's init containers in every pod. The cluster has
	// inject's services already.
	Inject(ctx context.Context, inject Injection) error
}

// Keeper is implemented by providers whose clusters' nodes are costly to
// make (kind's node containers). After Keep, deleting a case's cluster
// deletes what the case made in it but keeps its nodes for a later case
// of the same size; Close, at the end of the run, deletes the nodes kept.
type Keeper interface {
	Keep()
	Close(ctx context.Context) error
}

// Serial is implemented by providers whose clusters share nodes (one
// Kubernetes cluster's namespaces): node-level datapaths of two cases
// would meet on a node (its ports, its netfilter), so the runner runs the
// cases one at a time whatever the order asks.
type Serial interface {
	Serial() bool
}

// Provider creates clusters and removes what runs left of them. A run
// checks the provider once, then creates and deletes a cluster per case;
// Cleanup removes what a killed or retained run left. The run id names
// everything a run creates (NewRunID mints it, ValidRunID checks one a
// user gives); a case's cluster has the run id followed by the case index
// as its Spec.RunID (ClusterOfRun).
type Provider interface {
	// Check reports, creating nothing, whether the provider can create the
	// clusters need describes. Errors the user must fix (privileges, kernel,
	// kubeconfig, permissions, nodes, container engine) wrap ErrConfig or
	// ErrNotRoot.
	Check(ctx context.Context, need Need) error
	// Create builds the cluster for spec; on any error it removes what it
	// made before returning.
	Create(ctx context.Context, spec Spec) (Cluster, error)
	// Cleanup removes what the run runID left: the clusters of its cases and
	// what they hold. It returns one line per thing removed, for a person to
	// read ("deleted network namespace mb-0a1b2c3d0-p0"), also when it fails
	// part-way where it can tell; nothing removed is no lines. It refuses a
	// runID that ValidRunID refuses. Errors the user must fix wrap ErrConfig
	// or ErrNotRoot.
	Cleanup(ctx context.Context, runID string) ([]string, error)
	// CleanupAll is Cleanup for every meshbench run the provider reaches,
	// other people's live runs too.
	CleanupAll(ctx context.Context) ([]string, error)
}

// Need is what a run's clusters ask of a provider, for Check: the most
// that any of them needs.
type Need struct {
	// Nodes is the largest node count of the run's clusters.
	Nodes int
	// Enrol is set when a case installs its datapath into the running
	// cluster (the scenario's enrol phase): its pods are replaced and
	// labelled while it runs (Roller).
	Enrol bool
}

// ImagePreparer is implemented by providers whose nodes need the meshbench
// image before the first cluster runs on them (kube). After Check,
// PrepareImage makes it available on the nodes clusters of need use, so
// that a failing push or import stops the run before anything is created.
type ImagePreparer interface {
	PrepareImage(ctx context.Context, need Need) error
}

// Roller is implemented by clusters whose pods can be replaced and
// labelled while the cluster runs, as a Deployment's rolling update and
// `kubectl label` do: what enrolling a datapath that needs its containers
// in every pod (a sidecar) takes. The Topology changes with it.
type Roller interface {
	// SetNamespaceLabel labels the namespace the pods run in; the
	// injector reads it for the pods created from then on.
	SetNamespaceLabel(ctx context.Context, key, value string) error
	// AddPod creates a new pod of the service of pod old, on old's node,
	// with a network namespace, address and cgroup of its own and the
	// injected init containers run in it where the injector reaches it
	// (Injected). It is not yet an endpoint of its service.
	AddPod(ctx context.Context, old string) (Pod, error)
	// SwitchEndpoint makes pod to the service's endpoint in pod from's
	// place, on every node: new connections to the service reach to,
	// those already open to from stay with it.
	SwitchEndpoint(ctx context.Context, from, to string) error
	// DeletePod kills what still runs in a pod and deletes it.
	DeletePod(ctx context.Context, name string) error
	// InjectPod gives a running pod what the injector adds, which no
	// real cluster can do to a pod: for pods whose restart would end the
	// measurement itself (the load agents'), so that what the results
	// call restarts are real ones. It runs join once the injected
	// containers that stay up can run processes, and the injected init
	// containers after it, so that the connections their redirect rules
	// send to the datapath find it listening.
	InjectPod(ctx context.Context, name string, join func(context.Context) error) error
}
