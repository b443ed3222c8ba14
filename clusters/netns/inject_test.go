package netns

import (
	"strings"
	"testing"

	"github.com/meshbench/meshbench/clusters"
)

// TestTargetSkipsUninjectedPods refuses a process in an injected container
// of a pod whose labels kept the injector out: the pod has no such
// container, as a real mesh's webhook would not have added it.
func TestTargetSkipsUninjectedPods(t *testing.T) {
	out := map[string]string{clusters.InjectLabel: "false"}
	c := &Cluster{
		topo: &clusters.Topology{Pods: []clusters.Pod{
			{Name: "client-0", Cgroup: "mb/n0/client-0"},
			{Name: "mislabelled-0", Cgroup: "mb/n0/mislabelled-0", Labels: out},
		}},
		netAdmin: map[string]bool{"sidecar": true},
	}
	tests := []struct {
		pod, container string
		wantErr        bool
	}{
		{"client-0", "sidecar", false},
		{"mislabelled-0", "sidecar", true},
		{"mislabelled-0", clusters.AppContainer, false},
		{"mislabelled-0", "", false},
	}
	for _, tt := range tests {
		_, _, _, err := c.target(clusters.ProcSpec{Target: clusters.Target{Pod: tt.pod}, Container: tt.container})
		if (err != nil) != tt.wantErr {
			t.Errorf("target(%s, container %q) error = %v, want error %v", tt.pod, tt.container, err, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), clusters.InjectLabel) {
			t.Errorf("error %q does not name the label that kept the injector out", err)
		}
	}
}
