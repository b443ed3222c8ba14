package proxy

import (
	"context"
	"io"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
)

func TestParseOptions(t *testing.T) {
	peer := NodePeer{PodCIDR: netip.MustParsePrefix("10.244.1.0/24"), Addr: netip.MustParseAddrPort("172.18.0.3:15008"), Identity: "node-1"}
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{"defaults", nil, DefaultOptions(), ""},
		{"node proxy", []string{"-mode", "l7", "-inbound", "", "-tunnel", "0.0.0.0:15008", "-mark", "0x10",
			"-peer", "10.244.1.0/24=172.18.0.3:15008@node-1", "-allow-peers", "node-1,node-2"},
			Options{Mode: L7, Outbound: DefaultOutbound, Tunnel: "0.0.0.0:15008", Mark: 0x10,
				Peers: []NodePeer{peer}, AllowPeers: []string{"node-1", "node-2"}, Splice: true}, ""},
		{"sidecar", []string{"-peer-port", "15008", "-services", "s.json"},
			Options{Mode: L4, Outbound: DefaultOutbound, Inbound: DefaultInbound, Mark: DefaultMark, PeerPort: 15008, Services: "s.json", Splice: true}, ""},
		{"no splice", []string{"-splice=false"},
			Options{Mode: L4, Outbound: DefaultOutbound, Inbound: DefaultInbound, Mark: DefaultMark}, ""},
		{"waypoint", []string{"-outbound", "", "-inbound", "", "-tunnel", "0.0.0.0:15008", "-mark", "0", "-waypoint",
			"-peer", "10.244.1.0/24=172.18.0.3:15008@node-1"},
			Options{Mode: L4, Tunnel: "0.0.0.0:15008", Peers: []NodePeer{peer}, Waypoint: true, Splice: true}, ""},
		{"waypoint for a service", []string{"-waypoint-for", "10.96.0.10:80=10.244.1.7:15008@waypoint-svc-000"},
			Options{Mode: L4, Outbound: DefaultOutbound, Inbound: DefaultInbound, Mark: DefaultMark, Splice: true,
				Waypoints: []ServiceWaypoint{{VIP: netip.MustParseAddrPort("10.96.0.10:80"), Addr: netip.MustParseAddrPort("10.244.1.7:15008"), Identity: "waypoint-svc-000"}}}, ""},
		{"bad waypoint", []string{"-waypoint-for", "10.96.0.10:80"}, Options{}, "want VIP:PORT=ADDR:PORT"},
		{"bad waypoint identity", []string{"-waypoint-for", "10.96.0.10:80=10.244.1.7:15008@Bad"}, Options{}, "identity"},
		{"bad peer", []string{"-peer", "10.244.1.0/24"}, Options{}, "want CIDR=ADDR:PORT"},
		{"bad mark", []string{"-mark", "-1"}, Options{}, "invalid value"},
		{"stray argument", []string{"extra"}, Options{}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			// Args renders what parses back to the same options.
			again, err := parseOptions(got.Args()[2:], io.Discard)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("Args round trip: got %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestOptionsConfig(t *testing.T) {
	services := filepath.Join("testdata", "valid-services.json")
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"services and sidecar peers", Options{Mode: L7, Outbound: loopback, Services: services, PeerPort: 15008}, ""},
		{"two peer models", Options{Outbound: loopback, PeerPort: 15008, Peers: []NodePeer{{}}}, "choose one peer model"},
		{"partial TLS", Options{Outbound: loopback, CA: "ca.pem"}, "needs all of -ca, -cert and -key"},
		{"allow list without TLS", Options{Outbound: loopback, AllowPeers: []string{"a"}}, "-allow-peers needs mTLS"},
		{"missing services file", Options{Outbound: loopback, Services: "testdata/none.json"}, "read services"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.Config()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMain_Agent(t *testing.T) {
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	args := []string{"-mode", "l7", "-outbound", loopback, "-inbound", "", "-tunnel", loopback, "-mark", "0",
		"-services", filepath.Join("testdata", "valid-services.json")}
	done := make(chan error, 1)
	go func() {
		done <- Main(context.Background(), args, stdinR, stdoutW, io.Discard)
		stdoutW.Close()
	}()
	dec := wire.NewDecoder(stdoutR)
	var ready wire.Message
	if err := dec.Decode(&ready); err != nil || ready.Ready == nil {
		t.Fatalf("got first message %+v, %v; want Ready", ready, err)
	}
	if !strings.HasPrefix(ready.Ready.Addr, "outbound=127.0.0.1:") || !strings.Contains(ready.Ready.Addr, ",tunnel=127.0.0.1:") {
		t.Errorf("got Ready.Addr %q, want outbound and tunnel addresses", ready.Ready.Addr)
	}
	enc := wire.NewEncoder(stdinW)
	if err := enc.Encode(wire.Command{ID: 7, Stats: true}); err != nil {
		t.Fatalf("send Stats: %v", err)
	}
	var stats wire.Message
	if err := dec.Decode(&stats); err != nil {
		t.Fatalf("read Stats reply: %v", err)
	}
	if stats.ID != 7 || stats.Stats[StatServices] != 3 {
		t.Errorf("got reply %+v, want ID 7 and %s 3", stats, StatServices)
	}
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Main returned %v after stdin closed, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Main did not return after stdin closed")
	}
}
