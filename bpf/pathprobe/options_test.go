package pathprobe

import (
	"io"
	"net/netip"
	"reflect"
	"testing"
)

// What Options.Args renders parses back to the same options.
func TestOptionsArgsRoundTrip(t *testing.T) {
	for _, o := range []Options{
		{Namespaces: []Namespace{{Name: "node n0", Path: "/run/netns/n0"}}},
		{
			Namespaces: []Namespace{{Name: "fabric", Path: "/run/netns/f"}, {Name: "pod client-0", Path: "/proc/7/ns/net", Loopback: true}},
			Allow:      []netip.Prefix{netip.MustParsePrefix("10.244.0.0/24"), netip.MustParsePrefix("172.18.0.2/32")},
			Processes:  []Process{{Name: "app", Cgroup: "/mb/pod-client-0/app"}, {Name: "nodeproxy", Cgroup: "/mb/n0/nodeproxy"}},
		},
	} {
		args := o.Args()
		if args[0] != "agent" || args[1] != Role {
			t.Fatalf("Args() = %q, want \"agent\" %q first", args, Role)
		}
		got, err := parseOptions(args[2:], io.Discard)
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Errorf("parse(%q) = %+v, %v; want %+v", args, got, err, o)
		}
	}
}
