package bench

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters"
)

func TestProbeNamespaces(t *testing.T) {
	topo := func(fabric, podNS string) *clusters.Topology {
		return &clusters.Topology{
			FabricNetNS: fabric,
			Nodes:       []clusters.Node{{Name: "n0", NetNS: "/ns/n0"}, {Name: "n1", NetNS: "/ns/n1"}},
			Pods: []clusters.Pod{
				{Name: "client-0", Node: "n0", NetNS: "/ns/p0"},
				{Name: "svc-000-0", Node: "n1", NetNS: podNS},
				{Name: "svc-000-1", Node: "n0", NetNS: "/ns/p2"},
			},
		}
	}
	tests := []struct {
		name string
		topo *clusters.Topology
		want [][]pathprobe.Namespace
	}{
		{"fabric on the first node", topo("/ns/fabric", "/ns/p1"), [][]pathprobe.Namespace{
			{{Name: "fabric", Path: "/ns/fabric"}, {Name: "node n0", Path: "/ns/n0"},
				{Name: "pod client-0", Path: "/ns/p0"}, {Name: "pod svc-000-1", Path: "/ns/p2"}},
			{{Name: "node n1", Path: "/ns/n1"}, {Name: "pod svc-000-0", Path: "/ns/p1"}},
		}},
		{"no fabric", topo("", "/ns/p1"), [][]pathprobe.Namespace{
			{{Name: "node n0", Path: "/ns/n0"}, {Name: "pod client-0", Path: "/ns/p0"}, {Name: "pod svc-000-1", Path: "/ns/p2"}},
			{{Name: "node n1", Path: "/ns/n1"}, {Name: "pod svc-000-0", Path: "/ns/p1"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := probeNamespaces(tt.topo)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("namespaces per node (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a pod without path", func(t *testing.T) {
		_, err := probeNamespaces(topo("/ns/fabric", ""))
		if !errors.Is(err, errNoProbe) {
			t.Errorf("got error %v, want errNoProbe (the probe is skipped)", err)
		}
	})
}

func TestRenderTrace(t *testing.T) {
	steps := []pathprobe.Step{
		{Namespace: "pod client-0", Device: "eth0", Event: pathprobe.Event{Type: pathprobe.Transmit, Len: 177}},
		{Namespace: "pod client-0", Event: pathprobe.Event{Type: pathprobe.SocketSend, Len: 111}},
	}
	want := []string{
		"pod client-0           eth0     transmit     177B",
		"pod client-0           -        socket_send  111B",
	}
	if diff := cmp.Diff(want, renderTrace(steps)); diff != "" {
		t.Errorf("renderTrace (-want +got):\n%s", diff)
	}
}
