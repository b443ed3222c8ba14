package kube

import (
	"fmt"
	"regexp"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshbench/meshbench/clusters"
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

// ContainerName is the container of every pod that agents are started in.
const ContainerName = "agent"

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

func namespaceObject(runID string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   NamespaceName(runID),
		Labels: map[string]string{RunLabel: runID},
	}}
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
// agent that keeps the container up for the agents Start runs in it.
func podObject(runID string, s clusters.ServiceSpec, k int, node string, img image) *corev1.Pod {
	no := false
	grace := int64(podTerminationGrace)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      podName(s, k),
			Namespace: NamespaceName(runID),
			Labels:    map[string]string{AppLabel: s.Name, RunLabel: runID, RoleLabel: s.Role},
		},
		Spec: corev1.PodSpec{
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchFields: []corev1.NodeSelectorRequirement{{
							Key:      "metadata.name",
							Operator: corev1.NodeSelectorOpIn,
							Values:   []string{node},
						}},
					}},
				},
			}},
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           img.ref,
				ImagePullPolicy: img.policy,
				Command:         []string{BinaryPath, "agent", PauseRole},
				Ports: []corev1.ContainerPort{{
					Name:          "http",
					ContainerPort: int32(s.TargetPort),
					Protocol:      corev1.ProtocolTCP,
				}},
			}},
			// A pod whose container died has lost its agents: fail the
			// case rather than restart an empty container.
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
		},
	}
}
