package nodeproxy

import (
	"errors"
	"testing"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/internal/mesh"
	"github.com/meshbench/meshbench/scenarios"
)

func TestCheckWaypoints(t *testing.T) {
	tests := []struct {
		name     string
		received uint64
		sent     datapaths.Traffic
		ok       bool
	}{
		{"every request", 100, datapaths.Traffic{Requests: 100}, true},
		{"bypassed entirely", 0, datapaths.Traffic{Requests: 100}, false},
		{"one around the waypoint", 99, datapaths.Traffic{Requests: 100}, false},
		{"failed ones may be missing", 97, datapaths.Traffic{Requests: 100, Failed: 3}, true},
		{"more missing than failed", 96, datapaths.Traffic{Requests: 100, Failed: 3}, false},
		{"more than sent", 101, datapaths.Traffic{Requests: 100}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkWaypoints(tt.received, tt.sent)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, datapaths.ErrNotInPath)) {
				t.Errorf("checkWaypoints(%d, %+v) = %v, want ok %v (else %v)", tt.received, tt.sent, err, tt.ok, datapaths.ErrNotInPath)
			}
		})
	}
}

func TestNewRefusesWaypointOptions(t *testing.T) {
	for name, opts := range map[string]scenarios.DatapathOptions{
		"without mtls": {Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn, Waypoint: true},
		"with l7":      {Mode: scenarios.ModeL7, MTLS: true, Proxy: scenarios.ProxyOn, Waypoint: true},
		"elsewhere":    {Mode: scenarios.ModeL4, MTLS: true, Proxy: scenarios.ProxyOn, Waypoint: true, WaypointNode: "moon"},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New %s: got nil error", name)
		}
	}
}

// TestInjectionPlacesWaypoints checks that each server service gets one
// waypoint pod, on the node WaypointNode names.
func TestInjectionPlacesWaypoints(t *testing.T) {
	spec := clusters.Spec{Services: []clusters.ServiceSpec{
		{Name: "client", Role: "client", PodNodes: []int{0}},
		{Name: "svc-000", Role: "server", PodNodes: []int{1, 2}},
		{Name: "svc-001", Role: "server", PodNodes: []int{2}},
	}}
	for node, want := range map[string][]int{
		scenarios.WaypointServerNode: {1, 2},
		scenarios.WaypointClientNode: {0, 0},
		"":                           {1, 2}, // the default
	} {
		dp, err := New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, MTLS: true, Proxy: scenarios.ProxyOn, Waypoint: true, WaypointNode: node})
		if err != nil {
			t.Fatal(err)
		}
		inj := dp.(datapaths.Injector).Injection(spec)
		if len(inj.Services) != 2 {
			t.Fatalf("%q: %d waypoint services, want 2: %+v", node, len(inj.Services), inj.Services)
		}
		for i, svc := range inj.Services {
			if svc.Name != WaypointName(spec.Services[i+1].Name) || svc.Role != mesh.WaypointRole || len(svc.PodNodes) != 1 || svc.PodNodes[0] != want[i] {
				t.Errorf("%q: waypoint %d = %+v, want %s on node %d", node, i, svc, WaypointName(spec.Services[i+1].Name), want[i])
			}
		}
	}
	dp, _ := New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn})
	if inj := dp.(datapaths.Injector).Injection(spec); len(inj.Services) != 0 {
		t.Errorf("without waypoint: injected services %+v, want none", inj.Services)
	}
}
