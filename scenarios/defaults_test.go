package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// defaulted is what SetDefaults makes of an empty spec.
func defaulted() *Spec {
	return &Spec{
		APIVersion: APIVersion,
		Kind:       Kind,
		Topology: Topology{
			Nodes:          3,
			Services:       []int{1},
			PodsPerService: 1,
			ClientPods:     1,
			Placements:     []string{CrossNode},
			PodCIDR:        "10.244.0.0/16",
			ServiceCIDR:    "10.96.0.0/16",
		},
		Datapaths: []string{none},
		Load: Traffic{
			Protocols:     []string{HTTP1},
			Rates:         []float64{1000},
			Duration:      Duration(10 * time.Second),
			Warmup:        Duration(2 * time.Second),
			Connections:   []int{8},
			RequestBytes:  []int{0},
			ResponseBytes: []int{1024},
			Repetitions:   1,
			ProbeRequests: 100,
		},
		DatapathOptions: map[string]DatapathOptions{none: {Mode: ModeL4, Proxy: ProxyOn}},
		Run:             RunOptions{Order: OrderInterleaved, Clusters: ClustersFresh},
	}
}

var ignoreSource = cmpopts.IgnoreUnexported(Spec{})

func TestSetDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   *Spec       // built in code
		file string      // or loaded from YAML after the header
		want func(*Spec) // changes to defaulted()
	}{
		{name: "empty spec", in: &Spec{}, want: func(*Spec) {}},
		{name: "empty file", file: "", want: func(*Spec) {}},
		{
			name: "written values kept",
			file: "topology: {nodes: 5}\ndatapaths: [sidecar]\nload: {rates: [10], warmup: 3s}",
			want: func(s *Spec) {
				s.Topology.Nodes = 5
				s.Datapaths = []string{sidecar}
				s.Load.Rates = []float64{10}
				s.Load.Warmup = Duration(3 * time.Second)
				s.DatapathOptions = map[string]DatapathOptions{sidecar: {Mode: ModeL4, Proxy: ProxyOn}}
			},
		},
		{
			name: "written zeros kept for Validate",
			file: "topology: {nodes: 0, podCIDR: \"\"}\nload: {warmup: 0s, repetitions: 0, connections: []}",
			want: func(s *Spec) {
				s.Topology.Nodes = 0
				s.Topology.PodCIDR = ""
				s.Load.Warmup = 0
				s.Load.Repetitions = 0
				s.Load.Connections = []int{}
			},
		},
		{
			name: "null is left out",
			file: "topology: {nodes: ~}\nload:\n  warmup:\n",
			want: func(*Spec) {},
		},
		{
			name: "options completed",
			file: "datapaths: [none, ebpf]\ndatapathOptions: {ebpf: {proxy: \"off\"}, sidecar: {mtls: true}}",
			want: func(s *Spec) {
				s.Datapaths = []string{none, ebpf}
				s.DatapathOptions = map[string]DatapathOptions{
					none:    {Mode: ModeL4, Proxy: ProxyOn},
					ebpf:    {Mode: ModeL4, Proxy: ProxyOff},
					sidecar: {Mode: ModeL4, Proxy: ProxyOn, MTLS: true},
				}
			},
		},
		{
			name: "no options for unknown datapaths",
			in:   &Spec{Datapaths: []string{"istio"}},
			want: func(s *Spec) {
				s.Datapaths = []string{"istio"}
				s.DatapathOptions = nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.in
			if s == nil {
				s = mustLoad(t, tt.file)
				s.Metadata = Metadata{}
			}
			SetDefaults(s, testDatapaths)
			want := defaulted()
			tt.want(want)
			if diff := cmp.Diff(want, s, ignoreSource); diff != "" {
				t.Errorf("SetDefaults (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetDefaultsDoesNotShare(t *testing.T) {
	a, b := &Spec{}, &Spec{}
	SetDefaults(a, testDatapaths)
	SetDefaults(b, testDatapaths)
	a.Load.Rates[0] = 1
	a.Topology.Placements[0] = SameNode
	if b.Load.Rates[0] != DefaultRate || b.Topology.Placements[0] != DefaultPlacement {
		t.Errorf("changing one defaulted spec changed another: rates %v placements %v", b.Load.Rates, b.Topology.Placements)
	}
	SetDefaults(a, testDatapaths)
	if a.Load.Rates[0] != 1 {
		t.Errorf("SetDefaults again changed rates to %v, want [1]", a.Load.Rates)
	}
}

func TestValidateDefaults(t *testing.T) {
	if err := Validate(defaulted(), testDatapaths); err != nil {
		t.Errorf("Validate(defaults) = %v, want nil", err)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	s := defaulted()
	s.Load.Rates = []float64{0}
	s.Topology.Nodes = 1
	err := Validate(s, testDatapaths)
	want := "topology.placements[0]: cross-node needs at least 2 nodes, but topology.nodes is 1; set nodes to 2 or more, or use same-node\n" +
		"load.rates[0]: rate must be > 0; use a positive requests-per-second value"
	if err == nil || err.Error() != want {
		t.Errorf("Validate =\n%v\nwant\n%s", err, want)
	}
}

// mustLoad loads body after the scenario header.
func mustLoad(tb testing.TB, body string) *Spec {
	tb.Helper()
	s, err := Load(strings.NewReader("apiVersion: meshbench/v1alpha1\nkind: Scenario\n"+body), "t.yaml")
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return s
}
