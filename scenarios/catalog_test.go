package scenarios

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCatalog(t *testing.T) {
	var names []string
	for _, m := range Catalog() {
		names = append(names, m.Name)
		if m.Description == "" {
			t.Errorf("built-in %s has no description", m.Name)
		}
	}
	if want := []string{"capacity", "claims", "coverage", "encryption-bulk", "encryption", "protocols", "quick", "seed-mesh", "service-sweep", "waypoint"}; !slices.Equal(names, want) {
		t.Errorf("Catalog names = %q, want %q", names, want)
	}
}

func TestBuiltins(t *testing.T) {
	tests := []struct {
		name  string
		cases int
		check func(t *testing.T, s *Spec)
	}{
		{"capacity", 4, func(t *testing.T, s *Spec) {
			if s.Load.Search == nil || s.Datapaths[0] != "none" {
				t.Errorf("capacity: search %+v, datapaths %q; want a search, none first", s.Load.Search, s.Datapaths)
			}
		}},
		{"claims", 2*4 + 4, func(t *testing.T, s *Spec) {
			tp := s.Topology
			if !slices.Equal(tp.Services, []int{1, 20}) || tp.PodsPerService != 5 || tp.Nodes != 3 || tp.Unmeshed.Pods() != 1 || tp.Unmeshed.Hosts() != 1 {
				t.Errorf("claims topology = %+v, want 1 and 20 services × 5 pods on 3 nodes with a mislabelled pod and a host process", tp)
			}
			if !slices.Contains(s.Datapaths, "sidecar") || !slices.Contains(s.Datapaths, "nodeproxy") || s.DatapathOptions["ebpf-node"].Attach != AttachNode {
				t.Errorf("claims datapaths = %q, options %+v; want sidecar, nodeproxy and ebpf attached at the node", s.Datapaths, s.DatapathOptions)
			}
			if s.Enrol == nil || !slices.Equal(s.Enrol.Services, []int{1}) {
				t.Errorf("claims enrol = %+v, want an enrolment at 1 service", s.Enrol)
			}
		}},
		{"coverage", 5, func(t *testing.T, s *Spec) {
			if u := s.Topology.Unmeshed; u.Pods() != 1 || u.Hosts() != 1 || !u.InjectByDefault() {
				t.Errorf("unmeshed = %+v, want a mislabelled pod and a host process in an injecting namespace", u)
			}
			if o := s.DatapathOptions["ebpf-node"]; o.Datapath != "ebpf" || o.Attach != AttachNode {
				t.Errorf("ebpf-node = %+v, want ebpf attached at the node", o)
			}
		}},
		{"protocols", 6 * 2 * 4, func(t *testing.T, s *Spec) {
			if !slices.Equal(s.Load.Protocols, Protocols) {
				t.Errorf("protocols = %q, want every protocol, %q", s.Load.Protocols, Protocols)
			}
		}},
		{"quick", 2 * 4, func(t *testing.T, s *Spec) {
			l := s.Load
			if l.Duration != Duration(5*time.Second) || l.Warmup != Duration(time.Second) || l.Repetitions != 3 {
				t.Errorf("quick load = %+v, want 5s, 1s warm-up, 3 repetitions", l)
			}
		}},
		{"seed-mesh", 4, func(t *testing.T, s *Spec) {
			if tp := s.Topology; tp.Nodes != 3 || tp.Services[0] != 20 || tp.PodsPerService != 5 || tp.Placements[0] != Spread {
				t.Errorf("seed-mesh topology = %+v, want 20 services × 5 pods spread over 3 nodes", tp)
			}
		}},
		{"service-sweep", 5 * 3, func(t *testing.T, s *Spec) {
			if got, want := s.Topology.Services, []int{10, 25, 50, 100, 200}; !slices.Equal(got, want) {
				t.Errorf("services = %v, want %v", got, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Resolve(tt.name, testDatapaths)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.name, err)
			}
			if s.Metadata.Name != tt.name {
				t.Errorf("metadata.name = %q, want the file name %q", s.Metadata.Name, tt.name)
			}
			if got := len(Expand(s)); got != tt.cases {
				t.Errorf("len(Expand) = %d, want %d", got, tt.cases)
			}
			tt.check(t, s)
		})
	}
}

func TestResolveUnknown(t *testing.T) {
	for _, arg := range []string{"quik", "testdata/missing.yaml", "../scenarios/catalog/quick"} {
		t.Run(arg, func(t *testing.T) {
			_, err := Resolve(arg, testDatapaths)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Resolve(%q) error = %v, want ErrInvalid", arg, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, arg+": ") || !strings.Contains(msg, "quick, seed-mesh, service-sweep") {
				t.Errorf("Resolve(%q) error = %q, want it to name the argument and list the built-ins", arg, msg)
			}
		})
	}
	if _, err := Builtin("../catalog/quick"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Builtin with a path = %v, want ErrInvalid", err)
	}
}
