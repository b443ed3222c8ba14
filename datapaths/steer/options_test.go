package steer

import (
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// What Options.Args renders parses back to the same options.
func TestOptionsArgsRoundTrip(t *testing.T) {
	table := Table{NetNS: SelfNetNS, Name: "mb-sidecar-r1", SkipMark: 0x539, Rules: []Rule{
		{Hook: Output, ToPort: 15001},
		{Hook: Prerouting, Src: netip.MustParsePrefix("10.244.1.0/24"), Dst: netip.MustParsePrefix("10.96.0.0/16"), DstPort: 8080, ToPort: 15006},
	}, Rejects: []Reject{
		{Dst: netip.MustParsePrefix("10.244.1.5/32"), DstPort: 8080},
		{Dst: netip.MustParsePrefix("10.244.1.0/24")},
	}}
	tests := []struct {
		name string
		opts Options
	}{
		{"install", Options{Table: table}},
		{"remove", Options{Table: Table{NetNS: SelfNetNS, Name: "mb-sidecar-r1"}, Remove: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.opts.Args()
			if args[0] != "agent" || args[1] != Role {
				t.Fatalf("Args() = %q, want \"agent\" %q first", args, Role)
			}
			got, err := parseOptions(args[2:], io.Discard)
			if err != nil || !reflect.DeepEqual(got, tt.opts) {
				t.Errorf("parse(%q) = %+v, %v; want %+v", args, got, err, tt.opts)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for args, want := range map[string]string{
		"-rule output,to=1":                           "-table is required",
		"-table t":                                    "at least one -rule",
		"-table t -rule output":                       "want to=PORT",
		"-table t -rule output,to=1 x":                "unexpected arguments",
		"-table t -rule output,to=1 -reject dport=80": "want dst=IPv4 CIDR",
		"-table t -rule output,to=1 -reject dst=10.0.0.1/32,to=3": "unknown key",
	} {
		if _, err := parseOptions(strings.Fields(args), io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse(%q) = %v, want an error containing %q", args, err, want)
		}
	}
}
