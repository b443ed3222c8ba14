package ebpf

import (
	"io"
	"net/netip"
	"reflect"
	"testing"

	"github.com/meshbench/meshbench/bpf/redirect"
	"github.com/meshbench/meshbench/datapaths/proxy"
)

// What agentOptions.Args renders parses back to the same options.
func TestAgentOptionsArgsRoundTrip(t *testing.T) {
	for _, o := range []agentOptions{
		{Mode: redirect.ModeNoProxy.String(), NodeIP: netip.MustParseAddr("172.18.0.2")},
		{
			Mode: redirect.ModeProxy.String(), NodeIP: netip.MustParseAddr("172.18.0.2"),
			NodeProxy: netip.MustParseAddrPort("172.18.0.2:15001"), ProxyCgroup: "mb/n0/ebpf-proxy",
			Services: []proxy.Service{{Name: "svc-000", VIP: netip.MustParseAddr("10.96.0.1"), Port: 80,
				Endpoints: []netip.AddrPort{netip.MustParseAddrPort("10.244.1.2:8080")}}},
			Pods: []podConfig{{Name: "client-0", IP: netip.MustParseAddr("10.244.0.2"), NetNS: "/run/netns/p", Cgroup: "mb/n0/client-0", Iface: "eth0"}},
		},
	} {
		args := o.Args()
		if args[0] != "agent" || args[1] != Role {
			t.Fatalf("Args() = %q, want \"agent\" %q first", args, Role)
		}
		got, err := parseAgentOptions(args[2:], io.Discard)
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Errorf("parse(%q) = %+v, %v; want %+v", args, got, err, o)
		}
	}
}
