package agent

import (
	"io"
	"reflect"
	"testing"
	"time"
)

// What Args renders parses back to the same options, "agent" and the role
// first.
func TestOptionsArgsRoundTrip(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		for _, o := range []ServerOptions{
			{Listen: DefaultListen, Protocol: HTTP1},
			{Listen: "127.0.0.1:0", Protocol: TCPCRR, RequestBytes: 7, ResponseBytes: 1024, ServiceTime: time.Millisecond, StallAfter: 200, StallFor: time.Second},
		} {
			args := o.Args()
			if args[0] != "agent" || args[1] != ServerRole {
				t.Fatalf("Args() = %q, want \"agent\" %q first", args, ServerRole)
			}
			got, err := parseServerFlags(args[2:], io.Discard)
			if err != nil || !reflect.DeepEqual(got, o) {
				t.Errorf("parse(%q) = %+v, %v; want %+v", args, got, err, o)
			}
		}
	})
	t.Run("load", func(t *testing.T) {
		for _, o := range []LoadOptions{
			{Targets: []string{"http://10.0.0.1:80/"}, Protocol: HTTP1, Client: LeanClient, Connections: DefaultConnections, Workers: DefaultWorkers, Timeout: DefaultTimeout},
			{Targets: []string{"http://10.0.0.1:80/"}, Protocol: TCPRR, Client: LeanClient, Connections: 4, ResponseBytes: 1, Workers: 1, Timeout: time.Second, ConnectionRequests: 100},
			{Targets: []string{"http://10.0.0.1:80/"}, Protocol: H2C, Client: VegetaClient, Connections: 2, Workers: 1, Timeout: time.Minute},
			{Targets: []string{"http://10.0.0.1:80/", "http://10.0.0.2:80/"}, Protocol: GRPC, Client: LeanClient, Connections: 8, RequestBytes: 512, ResponseBytes: 9,
				Workers: 2, MaxWorkers: 16, Timeout: time.Second},
		} {
			args := o.Args()
			if args[0] != "agent" || args[1] != LoadRole {
				t.Fatalf("Args() = %q, want \"agent\" %q first", args, LoadRole)
			}
			got, err := parseLoadFlags(args[2:], io.Discard)
			if err != nil || !reflect.DeepEqual(got, o) {
				t.Errorf("parse(%q) = %+v, %v; want %+v", args, got, err, o)
			}
		}
	})
}
