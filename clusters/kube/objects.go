package kube

import (
	"fmt"
	"maps"
	"regexp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
	"github.com/meshbench/meshbench/internal/hostfs"
)

// Labels on everything a run creates.
const (
	// RunLabel carries the cluster's run id; Cleanup finds namespaces by it.
	RunLabel = "meshbench.dev/run"
	// RoleLabel carries the service's role ("client", "server").
	RoleLabel = "meshbench.dev/role"
	// AppLabel names a pod's service; the service selects its pods by it.
	AppLabel = "app"
)

// NodeAgentContainer is the node agent's container that node-level
// processes run in by default.
const NodeAgentContainer = "agent"

// nodeAgentLabel selects a run's node agents.
const nodeAgentLabel = "meshbench.dev/node-agent"

// nodeAgentName is the name of the node agents' DaemonSet.
const nodeAgentName = "meshbench-node"

// podTerminationGrace is short: the pods' processes exit on SIGTERM at
// once, and teardown waits for the namespace to be gone.
const podTerminationGrace = 2

var (
	// runIDPattern keeps namespace names valid DNS labels.
	runIDPattern = regexp.MustCompile(`^[a-z0-9]{1,16}$`)
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// NamespaceName is the namespace of the cluster with run id runID.
func NamespaceName(runID string) string { return "meshbench-" + runID }

// validate checks what the API server would reject late, or what would
// make names collide, before anything is created.
func validate(spec clusters.Spec) error {
	if !runIDPattern.MatchString(spec.RunID) {
		return fmt.Errorf("run id %q: want 1 to 16 lowercase letters or digits", spec.RunID)
	}
	if spec.Nodes < 1 {
		return fmt.Errorf("%d nodes: want at least 1", spec.Nodes)
	}
	seen := map[string]bool{}
	for _, s := range spec.Services {
		switch {
		case !dnsLabel.MatchString(s.Name) || len(s.Name) > 50:
			return fmt.Errorf("service %q: want a DNS label of at most 50 characters", s.Name)
		case seen[s.Name]:
			return fmt.Errorf("service %q defined twice", s.Name)
		case s.Port < 1 || s.Port > 65535 || s.TargetPort < 1 || s.TargetPort > 65535:
			return fmt.Errorf("service %q: ports %d and %d: want 1 to 65535", s.Name, s.Port, s.TargetPort)
		}
		seen[s.Name] = true
		for k, ni := range s.PodNodes {
			if ni < 0 || ni >= spec.Nodes {
				return fmt.Errorf("service %q pod %d: node index %d out of range [0,%d)", s.Name, k, ni, spec.Nodes)
			}
		}
	}
	return nil
}

// namespaceObject is the run's namespace. Its pods include the node
// agents, which are privileged, so Pod Security admission must allow them.
// Labels, the scenario's (clusters.Spec.NamespaceLabels), come besides.
func namespaceObject(runID string, labels map[string]string) *corev1.Namespace {
	l := maps.Clone(labels)
	if l == nil {
		l = map[string]string{}
	}
	l[RunLabel], l["pod-security.kubernetes.io/enforce"] = runID, "privileged"
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: NamespaceName(runID), Labels: l}}
}

func serviceObject(runID string, s clusters.ServiceSpec) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      s.Name,
			Namespace: NamespaceName(runID),
			Labels:    map[string]string{RunLabel: runID, RoleLabel: s.Role},
		},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{AppLabel: s.Name},
			Ports: []corev1.ServicePort{{
				Name:       "http",
				Protocol:   corev1.ProtocolTCP,
				Port:       int32(s.Port),
				TargetPort: intstr.FromInt32(int32(s.TargetPort)),
			}},
		},
	}
}

// podName is the name of pod k of service s, as the netns provider names it.
func podName(s clusters.ServiceSpec, k int) string { return s.Name + "-" + strconv.Itoa(k) }

// image says which image pods run and how the kubelet gets it.
type image struct {
	ref    string
	policy corev1.PullPolicy
}

// podObject is pod k of service s, bound to node by required node affinity
// on the node's name (as DaemonSets place their pods), running the pause
// agent in its app container (and in the idle containers inject adds),
// which keeps the containers up for the agents Start execs in them. Init
// containers of inject run first.
func podObject(runID string, s clusters.ServiceSpec, k int, node string, img image, inject []clusters.Container) *corev1.Pod {
	no := false
	grace := int64(podTerminationGrace)
	app := idleContainer(clusters.AppContainer, img, kubenode.PauseOptions{})
	app.Ports = []corev1.ContainerPort{{
		Name:          "http",
		ContainerPort: int32(s.TargetPort),
		Protocol:      corev1.ProtocolTCP,
	}}
	spec := corev1.PodSpec{
		Affinity:   onNodes([]string{node}),
		Containers: []corev1.Container{app},
		// A pod whose container died has lost its agents: fail the
		// case rather than restart an empty container.
		RestartPolicy:                 corev1.RestartPolicyNever,
		TerminationGracePeriodSeconds: &grace,
		AutomountServiceAccountToken:  &no,
		EnableServiceLinks:            &no,
	}
	for _, ct := range inject {
		c := injectedContainer(ct, img)
		if ct.Init {
			spec.InitContainers = append(spec.InitContainers, c)
		} else {
			spec.Containers = append(spec.Containers, c)
		}
	}
	labels := maps.Clone(s.PodLabels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, map[string]string{AppLabel: s.Name, RunLabel: runID, RoleLabel: s.Role})
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      podName(s, k),
			Namespace: NamespaceName(runID),
			Labels:    labels,
		},
		Spec: spec,
	}
}

// deploymentLabel names, on a Deployment's pod, the Deployment.
const deploymentLabel = "meshbench.dev/deployment"

// deploymentObject is a Deployment of one replica of pod, as a mesh
// deploys its own per-service proxies (Istio ambient's waypoints): pod's
// labels and spec, bound to its node, restarted in place should its
// container die (a Deployment's pods always are; the verify of what ran in
// it then fails the case).
func deploymentObject(pod *corev1.Pod) *appsv1.Deployment {
	one := int32(1)
	labels := maps.Clone(pod.Labels)
	labels[deploymentLabel] = pod.Name
	spec := *pod.Spec.DeepCopy()
	spec.RestartPolicy = corev1.RestartPolicyAlways
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{deploymentLabel: pod.Name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

// nodeAgentObject is the DaemonSet of the run's node agents: one
// privileged pod in the host network and PID namespaces on each of nodes,
// in which Start runs node-level processes (datapath steering and BPF,
// node proxies, the cost sampler, the packet-path probe), with the node's
// root directory read-only at hostfs.ContainerRoot. Its agent
// container and one idle container per name in containers run the pause
// agent.
func nodeAgentObject(runID string, nodes []string, img image, containers []string) *appsv1.DaemonSet {
	yes, no := true, false
	grace := int64(podTerminationGrace)
	labels := map[string]string{RunLabel: runID, nodeAgentLabel: runID}
	spec := corev1.PodSpec{
		Affinity:                      onNodes(nodes),
		HostNetwork:                   true,
		HostPID:                       true,
		DNSPolicy:                     corev1.DNSDefault,
		TerminationGracePeriodSeconds: &grace,
		AutomountServiceAccountToken:  &no,
		EnableServiceLinks:            &no,
		Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
	}
	spec.Volumes = []corev1.Volume{{Name: "node-root", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: "/"},
	}}}
	for _, name := range append([]string{NodeAgentContainer}, containers...) {
		var pause kubenode.PauseOptions
		if name == NodeAgentContainer {
			pause.RemoveTables = runID
		}
		c := idleContainer(name, img, pause)
		c.SecurityContext = &corev1.SecurityContext{Privileged: &yes}
		c.VolumeMounts = []corev1.VolumeMount{{
			// A recursive bind mount: the node's mounts below / (its cgroup
			// file systems) come along. No propagation: it would need / to
			// be a shared mount on the node.
			Name: "node-root", MountPath: hostfs.ContainerRoot, ReadOnly: true,
		}}
		spec.Containers = append(spec.Containers, c)
	}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: nodeAgentName, Namespace: NamespaceName(runID), Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

// injectedContainer is the container of ct, as the injector adds it: an
// init container runs its command, the others the pause agent.
func injectedContainer(ct clusters.Container, img image) corev1.Container {
	c := idleContainer(ct.Name, img, kubenode.PauseOptions{})
	if ct.Init {
		c.Command = append([]string{BinaryPath}, ct.Args...)
	}
	if ct.NetAdmin {
		c.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
			Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"},
		}}
	}
	return c
}

// idleContainer runs the pause agent: the container stays up for what
// Start runs in it. A failure's stderr becomes the container's
// termination message, which the provider reports.
func idleContainer(name string, img image, pause kubenode.PauseOptions) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    img.ref,
		ImagePullPolicy:          img.policy,
		Command:                  append([]string{BinaryPath}, pause.Args()...),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// onNodes requires one of the nodes by name, as DaemonSets place their
// pods: one term per node, as a field selector takes a single value.
func onNodes(nodes []string) *corev1.Affinity {
	var terms []corev1.NodeSelectorTerm
	for _, n := range nodes {
		terms = append(terms, corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{
				Key:      "metadata.name",
				Operator: corev1.NodeSelectorOpIn,
				Values:   []string{n},
			}},
		})
	}
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}}
}
