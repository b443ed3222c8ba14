package proxy

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadServices(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string // substring; "" for valid files
	}{
		{"valid-services.json", ""},
		{"invalid-unknown-field.json", `unknown field "weight"`},
		{"invalid-duplicate-name.json", `service "svc-0": listed twice`},
		{"invalid-duplicate-vip.json", `VIP 10.96.0.10:80 already belongs to "svc-0"`},
		{"invalid-vip-without-port.json", "VIP needs an IPv4 address and a port"},
		{"invalid-endpoint.json", "not an ip:port"},
		{"invalid-name.json", "only lower-case letters"},
		{"invalid-ipv6-vip.json", "VIP needs an IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			services, err := LoadServices(filepath.Join("testdata", tt.file))
			if tt.wantErr == "" {
				if err != nil || len(services) != 3 {
					t.Fatalf("got %d services, %v; want 3, nil", len(services), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSaveServicesRoundTrip(t *testing.T) {
	want := []Service{
		{Name: "svc-0", VIP: netip.MustParseAddr("10.96.0.10"), Port: 80,
			Endpoints: []netip.AddrPort{netip.MustParseAddrPort("10.244.0.2:8080")}},
		{Name: "headless", Endpoints: []netip.AddrPort{netip.MustParseAddrPort("10.244.1.2:9090")}},
	}
	path := filepath.Join(t.TempDir(), "services.json")
	if err := SaveServices(path, want); err != nil {
		t.Fatalf("SaveServices: %v", err)
	}
	got, err := LoadServices(path)
	if err != nil {
		t.Fatalf("LoadServices: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestPeers(t *testing.T) {
	services := []Service{{Name: "svc-1", Endpoints: []netip.AddrPort{netip.MustParseAddrPort("10.244.1.5:8080")}}}
	sidecar := SidecarPeers(DefaultTunnelPort, services)
	node := NodePeers([]NodePeer{
		{PodCIDR: netip.MustParsePrefix("10.244.1.0/24"), Addr: netip.MustParseAddrPort("172.18.0.3:15008"), Identity: "node-1"},
	})
	tests := []struct {
		name string
		peer PeerFunc
		dst  string
		want Hop
	}{
		{"sidecar: mesh endpoint", sidecar, "10.244.1.5:8080",
			Hop{Addr: netip.MustParseAddrPort("10.244.1.5:15008"), Tunnel: true, Identity: "svc-1"}},
		{"sidecar: outside the mesh", sidecar, "10.244.9.9:8080", Hop{Addr: netip.MustParseAddrPort("10.244.9.9:8080")}},
		{"node: remote pod", node, "10.244.1.7:8080",
			Hop{Addr: netip.MustParseAddrPort("172.18.0.3:15008"), Tunnel: true, Identity: "node-1"}},
		{"node: local pod", node, "10.244.0.7:8080", Hop{Addr: netip.MustParseAddrPort("10.244.0.7:8080")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.peer(netip.MustParseAddrPort(tt.dst)); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
