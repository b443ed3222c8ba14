package results

import "testing"

func TestDatapathLabel(t *testing.T) {
	tests := []struct {
		c    Case
		want string
	}{
		{Case{Datapath: "none"}, "none"},
		{Case{Datapath: "sidecar", Mode: "l7", MTLS: true}, "sidecar (l7, mtls)"},
		{Case{Datapath: "sidecar", Mode: "l4", L7Fallback: true}, "sidecar (l4 for l7)"},
		{Case{Datapath: "none", Encryption: "wireguard", EncryptionImplementation: "userspace"}, "none (wireguard userspace)"},
		{Case{Datapath: "nodeproxy", Mode: "l4", MTLS: true, Encryption: "wireguard", EncryptionImplementation: "kernel"}, "nodeproxy (l4, mtls, wireguard kernel)"},
		// A case that failed before its tunnels came up.
		{Case{Datapath: "ebpf", Mode: "l4", Encryption: "wireguard"}, "ebpf (l4, wireguard)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := DatapathLabel(&tt.c); got != tt.want {
				t.Errorf("DatapathLabel = %q, want %q", got, tt.want)
			}
		})
	}
}
