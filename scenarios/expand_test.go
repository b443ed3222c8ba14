package scenarios

import (
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestExpandOrder(t *testing.T) {
	s := mustLoad(t, `
topology: {placements: [same-node, cross-node], services: [1, 5]}
datapaths: [none, ebpf]
load: {rates: [100, 2.5], connections: [1, 4]}
`)
	SetDefaults(s, testDatapaths)
	if err := Validate(s, testDatapaths); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range Expand(s) {
		got = append(got, c.ID)
	}
	want := []string{
		"none/same-node/svc=1/rate=100/conns=1/req=0/resp=1024",
		"ebpf/same-node/svc=1/rate=100/conns=1/req=0/resp=1024",
		"none/same-node/svc=1/rate=100/conns=4/req=0/resp=1024",
		"ebpf/same-node/svc=1/rate=100/conns=4/req=0/resp=1024",
		"none/same-node/svc=1/rate=2.5/conns=1/req=0/resp=1024",
		"ebpf/same-node/svc=1/rate=2.5/conns=1/req=0/resp=1024",
		"none/same-node/svc=1/rate=2.5/conns=4/req=0/resp=1024",
		"ebpf/same-node/svc=1/rate=2.5/conns=4/req=0/resp=1024",
	}
	if len(got) != 32 {
		t.Fatalf("len(Expand) = %d, want 2×2×2×2×2 = 32", len(got))
	}
	if !slices.Equal(got[:len(want)], want) {
		t.Errorf("first cases =\n%q\nwant\n%q", got[:len(want)], want)
	}
	if last := got[len(got)-1]; last != "ebpf/cross-node/svc=5/rate=2.5/conns=4/req=0/resp=1024" {
		t.Errorf("last case = %s", last)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
		t.Errorf("case IDs are not unique: %q", got)
	}
}

func TestExpandCase(t *testing.T) {
	s := mustLoad(t, `
topology: {nodes: 4, services: [7], podsPerService: 2, clientPods: 3, placements: [spread], podCIDR: 10.1.0.0/16, serviceCIDR: 10.2.0.0/16}
datapaths: [sidecar]
datapathOptions: {sidecar: {mtls: true}}
load: {rates: [1500], duration: 3s, warmup: 1s, connections: [2], requestBytes: [10], responseBytes: [20], serviceTime: 5ms, repetitions: 4, probeRequests: 9}
`)
	SetDefaults(s, testDatapaths)
	got := Expand(s)
	want := Case{
		ID:             "sidecar/spread/svc=7/rate=1500/conns=2/req=10/resp=20",
		Datapath:       sidecar,
		Options:        DatapathOptions{Mode: ModeL4, MTLS: true, Proxy: ProxyOn},
		Placement:      Spread,
		Protocol:       HTTP1,
		Nodes:          4,
		Services:       7,
		PodsPerService: 2,
		ClientPods:     3,
		PodCIDR:        "10.1.0.0/16",
		ServiceCIDR:    "10.2.0.0/16",
		Rate:           1500,
		Duration:       3 * time.Second,
		Warmup:         time.Second,
		Connections:    2,
		RequestBytes:   10,
		ResponseBytes:  20,
		ServiceTime:    5 * time.Millisecond,
		Repetitions:    4,
		ProbeRequests:  9,
	}
	if len(got) != 1 || got[0] != want {
		t.Errorf("Expand =\n%+v\nwant\n%+v", got, want)
	}
}

func TestExpandProtocols(t *testing.T) {
	s := mustLoad(t, `
datapaths: [none, sidecar]
datapathOptions: {sidecar: {mode: l7, mtls: true}}
load: {protocol: [http1, grpc, tcp-crr]}
`)
	SetDefaults(s, testDatapaths)
	if err := Validate(s, testDatapaths); err != nil {
		t.Fatal(err)
	}
	type point struct {
		id         string
		protocol   string
		mode       string
		l7Fallback bool
	}
	var got []point
	for _, c := range Expand(s) {
		got = append(got, point{c.ID, c.Protocol, c.Options.Mode, c.L7Fallback})
	}
	want := []point{
		{"none/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024", HTTP1, ModeL4, false},
		{"sidecar/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024", HTTP1, ModeL7, false},
		{"none/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024/proto=grpc", GRPC, ModeL4, false},
		{"sidecar/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024/proto=grpc", GRPC, ModeL7, false},
		{"none/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024/proto=tcp-crr", TCPCRR, ModeL4, false},
		{"sidecar/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024/proto=tcp-crr", TCPCRR, ModeL4, true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Expand =\n%+v\nwant\n%+v", got, want)
	}
}

// TestExpandStream: a stream paces nothing, so the rates and sizes do not
// multiply its cases, and its ID names neither.
func TestExpandStream(t *testing.T) {
	s := mustLoad(t, `
datapaths: [none, sidecar]
datapathOptions: {sidecar: {mode: l7}}
load: {protocol: [stream], rates: [100, 1000], connections: [1, 4], requestBytes: [0, 10], responseBytes: [1, 2]}
`)
	SetDefaults(s, testDatapaths)
	if err := Validate(s, testDatapaths); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range Expand(s) {
		if c.Rate != 0 || c.RequestBytes != 0 || c.ResponseBytes != 0 || c.Datapath == "sidecar" && !c.L7Fallback {
			t.Errorf("case %+v: want no rate, no sizes, and l7's fallback to l4 recorded", c)
		}
		got = append(got, c.ID)
	}
	want := []string{
		"none/cross-node/svc=1/conns=1/proto=stream", "sidecar/cross-node/svc=1/conns=1/proto=stream",
		"none/cross-node/svc=1/conns=4/proto=stream", "sidecar/cross-node/svc=1/conns=4/proto=stream",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Expand IDs = %q, want %q", got, want)
	}
}

func TestExpandOptionsWithoutDefaults(t *testing.T) {
	s := defaulted()
	s.Datapaths = []string{nodeProxy}
	s.DatapathOptions = nil
	if got, want := Expand(s)[0].Options, (DatapathOptions{Mode: ModeL4, Proxy: ProxyOn}); got != want {
		t.Errorf("Options = %+v, want %+v", got, want)
	}
}

func TestHash(t *testing.T) {
	base := defaulted()
	h := Hash(base, testDatapaths)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("Hash = %q, want 64 hex digits", h)
	}
	if again := Hash(defaulted(), testDatapaths); again != h {
		t.Errorf("Hash of an equal spec = %s, want %s", again, h)
	}
	if got := Hash(&Spec{}, testDatapaths); got != h {
		t.Errorf("Hash of an empty spec = %s, want the defaulted spec's %s", got, h)
	}
	written := mustLoad(t, `
topology: {nodes: 3, services: [1], podsPerService: 1, clientPods: 1, placements: [cross-node], podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/16}
datapaths: [none]
datapathOptions: {none: {mode: l4, proxy: "on"}}
load: {rates: [1000], duration: 10s, warmup: 2s, connections: [8], requestBytes: [0], responseBytes: [1024], repetitions: 1, probeRequests: 100}
run: {order: interleaved, clusters: fresh}
`)
	written.Metadata = Metadata{}
	if got := Hash(written, testDatapaths); got != h {
		t.Errorf("Hash of a file writing out every default = %s, want %s", got, h)
	}
	// Another order is another way of measuring.
	sequential := defaulted()
	sequential.Run.Order = OrderSequential
	if got := Hash(sequential, testDatapaths); got == h {
		t.Errorf("Hash with run.order sequential = %s, the default's", got)
	}
	// A scenario from before the protocol dimension keeps its hash.
	// (The default spec's hash before the dimension existed.)
	if before := "770701dbecc73f32d0b7dd72f9201012fff84bd5332640b0b9ca1806aaa4fe25"; h != before {
		t.Errorf("Hash of the default spec = %s, want %s as before load.protocol existed", h, before)
	}
	written.Load.Protocols = []string{HTTP1}
	if got := Hash(written, testDatapaths); got != h {
		t.Errorf("Hash with protocol: [http1] written out = %s, want the default's %s", got, h)
	}

	changes := map[string]func(*Spec){
		"name":           func(s *Spec) { s.Metadata.Name = "x" },
		"nodes":          func(s *Spec) { s.Topology.Nodes = 4 },
		"services":       func(s *Spec) { s.Topology.Services = []int{2} },
		"placement":      func(s *Spec) { s.Topology.Placements = []string{Spread} },
		"datapath":       func(s *Spec) { s.Datapaths = []string{none, ebpf} },
		"datapath order": func(s *Spec) { s.Datapaths = []string{ebpf, none} },
		"rate":           func(s *Spec) { s.Load.Rates = []float64{1000.5} },
		"protocol":       func(s *Spec) { s.Load.Protocols = []string{H2C} },
		"protocols":      func(s *Spec) { s.Load.Protocols = []string{HTTP1, H2C} },
		"duration":       func(s *Spec) { s.Load.Duration = Duration(11 * time.Second) },
		"response size":  func(s *Spec) { s.Load.ResponseBytes = []int{1025} },
		"mtls":           func(s *Spec) { s.DatapathOptions = map[string]DatapathOptions{none: {MTLS: true}} },
		"gate":           func(s *Spec) { s.Gate = map[string]string{"hops": "0"} },
	}
	seen := map[string]string{h: "base"}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			s := defaulted()
			change(s)
			before := Hash(s, testDatapaths)
			if other, ok := seen[before]; ok {
				t.Errorf("Hash after changing %s = %s, same as %s", name, before, other)
			}
			seen[before] = name
			if after := Hash(s, testDatapaths); after != before {
				t.Errorf("Hash is not stable: %s then %s", before, after)
			}
		})
	}
}

func TestHashLeavesSpecAlone(t *testing.T) {
	s := &Spec{Datapaths: []string{sidecar}}
	Hash(s, testDatapaths)
	if s.Topology.Nodes != 0 || s.DatapathOptions != nil || len(s.Load.Rates) != 0 {
		t.Errorf("Hash changed its argument: %+v", s)
	}
}
