package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// invalidFixtures lists, per testdata/invalid-*.yaml file, every line of the
// error Resolve must return (as substrings after "testdata/"): file, line,
// field and message.
var invalidFixtures = map[string][]string{
	"invalid-bounds.yaml": {
		`invalid-bounds.yaml:4: topology.nodes: 65 is above the allowed maximum of 64`,
		`invalid-bounds.yaml:7: load.rates[0]: rate 0.001 is outside the allowed range 1 to 200000`,
		`invalid-bounds.yaml:7: load.rates[1]: rate 1e+10 is outside the allowed range 1 to 200000`,
		`invalid-bounds.yaml:8: load.duration: 2h0m0s is above the allowed maximum of 1h0m0s`,
		`invalid-bounds.yaml:9: load.connections[0]: 5000 is above the allowed maximum of 4096`,
		`invalid-bounds.yaml:10: load.responseBytes[0]: 17000000 is above the allowed maximum of 16777216`,
		`invalid-bounds.yaml:11: load.repetitions: 101 is above the allowed maximum of 100`,
	},
	"invalid-run.yaml": {
		`invalid-run.yaml:4: run.order: unknown order "random"; use sequential or interleaved`,
		`invalid-run.yaml:5: run.clusters: unknown value "keep"; use fresh or reuse`,
		`invalid-run.yaml:6: run.reuse: unknown field; valid fields here are order, clusters`,
	},
	"invalid-gate.yaml":             {`invalid-gate.yaml:4: gate.p99_overhead: parse gate limits: p99_overhead="banana"`},
	"invalid-matrix-too-large.yaml": {`invalid-matrix-too-large.yaml:3: datapaths: the matrix expands to more than 1000 cases`},
	"invalid-api-version.yaml":      {`invalid-api-version.yaml:1: apiVersion: "meshbench/v2" is not supported; this meshbench reads apiVersion: meshbench/v1alpha1`},
	"invalid-kind.yaml":             {`invalid-kind.yaml:2: kind: "Cluster" is not supported`},
	"invalid-no-header.yaml": {
		`invalid-no-header.yaml:1: apiVersion: is missing; write apiVersion: meshbench/v1alpha1`,
		`invalid-no-header.yaml:1: kind: is missing; write kind: Scenario`,
	},
	"invalid-not-mapping.yaml":   {`invalid-not-mapping.yaml:1: the file holds a list, not a mapping of fields`},
	"invalid-empty.yaml":         {`invalid-empty.yaml: the file is empty`},
	"invalid-two-documents.yaml": {`invalid-two-documents.yaml:3: the file holds more than one YAML document`},
	// Fields the decoder cannot take do not hide the other fields' problems.
	"invalid-mixed.yaml": {
		`invalid-mixed.yaml:4: topology.nodez: unknown field; did you mean nodes?`,
		`invalid-mixed.yaml:5: topology.services[0]: must be at least 1, got 0`,
		`invalid-mixed.yaml:7: load.rates[0]: rate must be > 0`,
		`invalid-mixed.yaml:8: load.duration: "abc" is not a duration`,
		`invalid-mixed.yaml:9: load.repetitions: 1000 is above the allowed maximum of 100`,
	},
	"invalid-syntax.yaml": {
		`invalid-syntax.yaml:4: malformed YAML: did not find expected key; check the indentation and quoting from this line on`,
		`invalid-syntax.yaml: lines 4 on were not checked; fix the malformed YAML and check the file again`,
	},
	"invalid-unknown-field.yaml": {
		`invalid-unknown-field.yaml:5: topology.podCidr: unknown field; did you mean podCIDR?`,
		`invalid-unknown-field.yaml:7: load.rate: unknown field; did you mean rates?`,
	},
	"invalid-duplicate-key.yaml": {`invalid-duplicate-key.yaml:5: topology.nodes: written twice (first on line 4); keep one`},
	"invalid-type.yaml": {
		`invalid-type.yaml:4: topology.nodes: "three" is not a whole number; write a number such as 3`,
		`invalid-type.yaml:6: load.rates: "1000" is not a list; write a list such as [1000]`,
		`invalid-type.yaml:7: load.connections[1]: "many" is not a whole number`,
	},
	"invalid-duration-unit.yaml": {`invalid-duration-unit.yaml:4: load.duration: "10" is not a duration; write it with a unit, such as 10s or 500ms`},
	"invalid-protocol.yaml": {
		`invalid-protocol.yaml:4: load.protocol[1]: unknown protocol "quic"; use http1, h2c, grpc, tcp-rr, tcp-crr, stream`,
		`invalid-protocol.yaml:4: load.protocol[2]: http1 is listed twice; remove the duplicate`,
		`invalid-protocol.yaml:5: load.requestBytes[0]: 5000000 bytes do not fit in a gRPC message, which holds at most 4194288`,
	},
	"invalid-client.yaml":                     {`invalid-client.yaml:4: load.client: unknown client "curl"; use lean, vegeta`},
	"invalid-connection-requests.yaml":        {`invalid-connection-requests.yaml:5: load.connectionRequests: applies to protocols http1 and tcp-rr only; remove the others from load.protocol or remove load.connectionRequests`},
	"invalid-connection-requests-vegeta.yaml": {`invalid-connection-requests-vegeta.yaml:6: load.connectionRequests: applies to the lean client only; remove load.client: vegeta or load.connectionRequests`},
	"invalid-client-protocol.yaml":            {`invalid-client-protocol.yaml:5: load.client: applies to protocols http1 and h2c only; add one to load.protocol or remove load.client`},
	"invalid-search.yaml": {
		`invalid-search.yaml:5: load.search: a stream has no rate to search; remove stream from load.protocol or remove load.search`,
		`invalid-search.yaml:7: load.search.to: 2000 is not above from (5000); the search needs room to climb`,
		`invalid-search.yaml:8: load.search.factor: 1 is outside the allowed range 1.1 to 16; each step multiplies the rate by it`,
		`invalid-search.yaml:9: load.search.bisect: 11 is outside the allowed range 0 to 10`,
		`invalid-search.yaml:10: load.search.maxP99: "2" is not a ratio from 1x to 100x of the lowest rate's p99, such as 2x`,
		`invalid-search.yaml:11: load.search.maxErrors: "101%" is not a percentage from 0% to 100%, such as 0.1%`,
		`invalid-search.yaml:12: load.search.minAchieved: "10%" is not a percentage from 50% to 100%, such as 99%`,
	},
	"invalid-rate.yaml": {
		`invalid-rate.yaml:6: load.rates[0]: rate must be > 0; use a positive requests-per-second value`,
		`invalid-rate.yaml:8: load.rates[2]: rate must be > 0`,
	},
	"invalid-durations.yaml": {
		`invalid-durations.yaml:4: load.duration: must be greater than 0, got 0s`,
		`invalid-durations.yaml:5: load.warmup: must not be negative, got -1s`,
		`invalid-durations.yaml:6: load.serviceTime: must not be negative, got -2ms`,
	},
	"invalid-datapath.yaml": {
		`invalid-datapath.yaml:3: datapaths[1]: unknown datapath "istio"; valid datapaths are none, sidecar, nodeproxy, ebpf`,
		`invalid-datapath.yaml:3: datapaths[2]: none is listed twice; remove the duplicate`,
	},
	"invalid-empty-list.yaml": {`invalid-empty-list.yaml:3: datapaths: the list is empty`},
	"invalid-waypoint.yaml": {
		`invalid-waypoint.yaml:5: load.protocol[1]: the waypoint of nodeproxy is an l7 proxy, which does not parse tcp-rr; remove tcp-rr or the waypoint`,
		`invalid-waypoint.yaml:9: datapathOptions.sidecar.waypoint: a waypoint is only possible with nodeproxy, whose node proxies send traffic through it; remove waypoint`,
		`invalid-waypoint.yaml:11: datapathOptions.nodeproxy.waypoint: a waypoint needs mtls: true`,
		`invalid-waypoint.yaml:12: datapathOptions.nodeproxy.waypointNode: "elsewhere" is not a waypoint placement; use client-node or server-node`,
		`invalid-waypoint.yaml:14: datapathOptions.ebpf.waypointNode: applies only with a waypoint; set waypoint: true or remove waypointNode`,
	},
	"invalid-variant.yaml": {
		`invalid-variant.yaml:3: datapaths[1]: unknown datapath "fast"; valid datapaths are none, sidecar, nodeproxy, ebpf, or a variant defined under datapathOptions with datapath: NAME`,
		`invalid-variant.yaml:6: datapathOptions.none.datapath: none is a datapath itself, not a variant; remove datapath or give the entry a name of its own`,
		`invalid-variant.yaml:7: datapathOptions.Fast: variant name "Fast": use lower-case letters, digits and '-', starting with a letter`,
		`invalid-variant.yaml:10: datapathOptions.sidecar-x.datapath: unknown datapath "istio"; a variant is one of none, sidecar, nodeproxy, ebpf`,
		`invalid-variant.yaml:13: datapathOptions.none-wp.waypoint: a waypoint is only possible with nodeproxy`,
		`invalid-variant.yaml:14: datapathOptions.none-wp.mtls: datapath none has no proxy, so mtls cannot apply; remove mtls`,
	},
	"invalid-waypoint-mode.yaml": {`invalid-waypoint-mode.yaml:6: datapathOptions.nodeproxy.mode: with a waypoint the node proxies stay l4 and the waypoint is the l7 proxy; remove mode`},
	"invalid-counts.yaml": {
		`invalid-counts.yaml:4: topology.nodes: must be at least 1, got 0`,
		`invalid-counts.yaml:5: topology.services[0]: must be at least 1, got 0`,
		`invalid-counts.yaml:6: topology.podsPerService: must be at least 1, got -1`,
		`invalid-counts.yaml:7: topology.clientPods: must be at least 1, got 0`,
		`invalid-counts.yaml:9: load.connections[0]: must be at least 1, got 0`,
		`invalid-counts.yaml:10: load.requestBytes[0]: must not be negative, got -1`,
		`invalid-counts.yaml:11: load.responseBytes[0]: must not be negative, got -1024`,
		`invalid-counts.yaml:12: load.repetitions: must be at least 1, got 0`,
		`invalid-counts.yaml:13: load.probeRequests: must be at least 1, got 0`,
	},
	"invalid-cross-node-one-node.yaml":        {`invalid-cross-node-one-node.yaml:5: topology.placements[1]: cross-node needs at least 2 nodes, but topology.nodes is 1`},
	"invalid-default-placement-one-node.yaml": {`invalid-default-placement-one-node.yaml:4: topology.nodes: 1 node leaves no other node for the default placement cross-node`},
	"invalid-placement.yaml":                  {`invalid-placement.yaml:4: topology.placements[0]: unknown placement "far-away"; use same-node, cross-node or spread`},
	"invalid-cidr.yaml": {
		`invalid-cidr.yaml:4: topology.podCIDR: "10.244.0.0/33" is not an address range`,
		`invalid-cidr.yaml:5: topology.serviceCIDR: 10.96.1.0/16 has bits set after the prefix; write 10.96.0.0/16`,
	},
	"invalid-cidr-overlap.yaml":       {`invalid-cidr-overlap.yaml:5: topology.serviceCIDR: 10.96.0.0/16 overlaps podCIDR 10.0.0.0/8`},
	"invalid-pod-cidr-too-small.yaml": {`invalid-pod-cidr-too-small.yaml:5: topology.podCIDR: 10.244.0.0/23 holds 2 node /24s, but topology.nodes is 3`},
	"invalid-too-many-pods.yaml":      {`invalid-too-many-pods.yaml:5: topology.services[1]: with placement same-node, 100 services × 3 pods put 301 pods (client pods included) on node 0, more than the 250 addresses`},
	"invalid-too-many-services.yaml":  {`invalid-too-many-services.yaml:5: topology.services[0]: 260 services need 260 virtual IPs, but serviceCIDR 10.96.0.0/24 holds 254`},
	"invalid-enrol.yaml": {
		`invalid-enrol.yaml:5: datapaths[1]: enrol counts each 100 ms's share of requests through sidecar with its proxies' request counters, which l4 proxies lack; set datapathOptions.sidecar.mode: l7`,
		`invalid-enrol.yaml:5: datapaths[2]: datapath ebpf-off cannot enrol into a running cluster: with proxy off it has no proxies to count the requests it carries; remove it from datapaths or remove enrol`,
		`invalid-enrol.yaml:5: datapaths[3]: datapath nodeproxy-mtls cannot enrol into a running cluster: enrolling it with mtls is not built; remove it from datapaths or remove enrol`,
		`invalid-enrol.yaml:5: datapaths[4]: datapath ebpf-wg cannot enrol into a running cluster: enrolling it with encryption wireguard is not built; remove it from datapaths or remove enrol`,
		`invalid-enrol.yaml:11: load.protocol[1]: enrol counts requests through the datapath with its l7 proxies' counters, which parse http1, h2c and grpc only; remove tcp-rr or remove enrol`,
		`invalid-enrol.yaml:14: enrol.services[0]: 3 is not one of topology.services [1]; list service counts the topology has, or remove enrol.services`,
	},
	"invalid-enrol-after.yaml": {
		`invalid-enrol-after.yaml:7: enrol.after: 5s is not inside the enrolment's 5s of load; set it below enrol.duration (or load.duration)`,
	},
	"invalid-enrol-zero.yaml": {
		`invalid-enrol-zero.yaml:5: enrol.after: must be greater than 0, got 0s; set when, from the start of the load, the datapath is installed, such as 5s`,
	},
	"invalid-unmeshed.yaml": {
		`invalid-unmeshed.yaml:5: topology.unmeshed: coverage counts requests, which protocol stream does not send`,
		`invalid-unmeshed.yaml:6: topology.unmeshed.sources: 200 client pods and 60 mislabelled pods need more than the 250 addresses of the client's node`,
		`invalid-unmeshed.yaml:7: topology.unmeshed.sources[0].kind: unknown source kind "rogue"; use mislabelled or host`,
		`invalid-unmeshed.yaml:9: topology.unmeshed.sources[2].count: must be at least 1, got 0; set how many host sources to run`,
		`invalid-unmeshed.yaml:12: datapathOptions.sidecar.attach: datapath sidecar cannot attach at the node; remove attach`,
		`invalid-unmeshed.yaml:13: datapathOptions.ebpf.attach: "cgroup" is not an attachment; use pod or node`,
	},
	"invalid-options.yaml": {
		`invalid-options.yaml:6: datapathOptions.none.mtls: datapath none has no proxy, so mtls cannot apply`,
		`invalid-options.yaml:8: datapathOptions.sidecar.mode: "l5" is not a proxy mode; use l4 or l7`,
		`invalid-options.yaml:9: datapathOptions.sidecar.proxy: off is only possible with ebpf`,
		`invalid-options.yaml:11: datapathOptions.ebpf.proxy: "maybe" is not a proxy setting; use on or off`,
		`invalid-options.yaml:12: datapathOptions.istio: unknown datapath "istio"`,
	},
	"invalid-encryption.yaml": {
		`invalid-encryption.yaml:6: datapathOptions.sidecar.encryption: datapath sidecar cannot run over wireguard (only none, nodeproxy or ebpf can)`,
		`invalid-encryption.yaml:9: datapathOptions.ebpf.encryption: wireguard cannot apply with proxy off`,
		`invalid-encryption.yaml:11: datapathOptions.none.encryption: "ipsec" is not an encryption; use wireguard`,
	},
	"invalid-ebpf-no-proxy.yaml": {
		`invalid-ebpf-no-proxy.yaml:7: datapathOptions.ebpf.mode: l7 needs a proxy, but proxy is off`,
		`invalid-ebpf-no-proxy.yaml:8: datapathOptions.ebpf.mtls: mtls needs a proxy, but proxy is off`,
	},
}

func TestResolveInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := invalidFixtures[filepath.Base(f)]; !ok {
			t.Errorf("%s has no entry in invalidFixtures", f)
		}
	}
	for name, wants := range invalidFixtures {
		t.Run(name, func(t *testing.T) {
			_, err := Resolve(filepath.Join("testdata", name), testDatapaths)
			if err == nil {
				t.Fatal("Resolve succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(wants) {
				t.Errorf("got %d problems, want %d:\n%v", len(got), len(wants), err)
			}
			for i, want := range wants {
				if i < len(got) && !strings.HasPrefix(got[i], "testdata/"+want) {
					t.Errorf("problem %d:\n got: %s\nwant: testdata/%s...", i, got[i], want)
				}
			}
		})
	}
}

func TestResolveValid(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, s *Spec)
	}{
		{"valid-minimal.yaml", func(t *testing.T, s *Spec) {
			if s.Metadata.Name != "valid-minimal" {
				t.Errorf("Metadata.Name = %q, want the file name valid-minimal", s.Metadata.Name)
			}
			if got, want := Hash(s, testDatapaths), Hash(&Spec{Metadata: Metadata{Name: "valid-minimal"}}, testDatapaths); got != want {
				t.Errorf("defaulted file hashes %s, want %s like an empty Spec", got, want)
			}
		}},
		{"valid-full.yaml", func(t *testing.T, s *Spec) {
			if got, want := len(Expand(s)), 5*3*2*2*2*2*1*4; got != want {
				t.Errorf("len(Expand) = %d, want %d", got, want)
			}
			want := DatapathOptions{Mode: ModeL7, MTLS: true, Proxy: ProxyOn}
			if got := s.DatapathOptions[sidecar]; got != want {
				t.Errorf("sidecar options = %+v, want %+v", got, want)
			}
			if got, want := s.Load.Duration, Duration(90*time.Second); got != want {
				t.Errorf("duration = %v, want %v", got, want)
			}
			if got, want := s.Run, (RunOptions{Order: OrderInterleaved, Clusters: ClustersReuse}); got != want {
				t.Errorf("run = %+v, want %+v", got, want)
			}
			if got := s.Gate["p99_overhead"]; got != "10%" {
				t.Errorf(`gate["p99_overhead"] = %q, want "10%%"`, got)
			}
		}},
		{"valid-single-node.yaml", func(t *testing.T, s *Spec) {
			if s.Load.Warmup != 0 {
				t.Errorf("warmup = %v, want the written 0s kept", s.Load.Warmup)
			}
		}},
		{"valid-waypoint.yaml", func(t *testing.T, s *Spec) {
			cases := Expand(s)
			if len(cases) != 2 {
				t.Fatalf("%d cases, want 2", len(cases))
			}
			plain := DatapathOptions{Mode: ModeL4, MTLS: true, Proxy: ProxyOn}
			waypoint := DatapathOptions{Mode: ModeL4, MTLS: true, Proxy: ProxyOn, Waypoint: true, WaypointNode: WaypointServerNode}
			for i, want := range []struct {
				id, variant string
				opts        DatapathOptions
			}{
				{"nodeproxy/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024", "", plain},
				{"nodeproxy-waypoint/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024/waypoint=server-node", "nodeproxy-waypoint", waypoint},
			} {
				c := cases[i]
				if c.ID != want.id || c.Datapath != nodeProxy || c.Variant != want.variant || c.Options != want.opts {
					t.Errorf("case %d: ID %q datapath %q variant %q options %+v; want %q, %q, %q, %+v (the default waypoint node)",
						i, c.ID, c.Datapath, c.Variant, c.Options, want.id, nodeProxy, want.variant, want.opts)
				}
			}
		}},
		{"valid-flow-style.yaml", func(t *testing.T, s *Spec) {
			if got := Expand(s)[0].ID; got != "ebpf/cross-node/svc=1/rate=2000/conns=8/req=0/resp=1024" {
				t.Errorf("ID = %q", got)
			}
		}},
	}
	files, err := filepath.Glob("testdata/valid-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d valid fixtures, %d tests: give each fixture a test", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := Resolve(filepath.Join("testdata", tt.file), testDatapaths)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			tt.check(t, s)
		})
	}
}

func TestLoadLimits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"too large", "apiVersion: meshbench/v1alpha1\nkind: Scenario\n#" + strings.Repeat("x", maxFileSize), "t.yaml: the file is larger than 64 KiB"},
		{"null document", "~\n", "t.yaml: the file is empty"},
		{"separator only", "---\n", "t.yaml: the file is empty"},
		{"scalar", "scenario\n", `t.yaml:1: the file holds "scenario", not a mapping`},
		{"empty apiVersion", "apiVersion:\nkind: Scenario\n", "t.yaml:1: apiVersion: an empty value is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tt.in), "t.yaml")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
				t.Errorf("Load error = %v, want one starting %q and wrapping ErrInvalid", err, tt.want)
			}
		})
	}
}

// TestLoadManyProblems checks that a file with thousands of mistakes gets a
// screenful of them, and a count of the rest.
func TestLoadManyProblems(t *testing.T) {
	const header = "apiVersion: meshbench/v1alpha1\nkind: Scenario\n"
	tests := []struct {
		name, in, first, last string
	}{
		{
			"repeated keys",
			header + "topology:\n" + strings.Repeat("  nodes: 1\n", 5000),
			"t.yaml:5: topology.nodes: written twice (first on line 4); keep one",
			"t.yaml: 4979 more problems not shown; fix the ones above first",
		},
		{
			"bad list items",
			header + "load:\n  connections:\n" + strings.Repeat("  - x\n", 5000),
			`t.yaml:5: load.connections[0]: "x" is not a whole number`,
			"t.yaml: 4980 more problems not shown; fix the ones above first",
		},
		{
			"invalid values",
			header + "load:\n  rates:\n" + strings.Repeat("  - 0\n", 5000),
			"t.yaml:5: load.rates[0]: rate must be > 0",
			"t.yaml: 9979 more problems not shown; fix the ones above first",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(strings.NewReader(tt.in), "t.yaml")
			if err == nil {
				SetDefaults(s, testDatapaths)
				err = Validate(s, testDatapaths)
			}
			if err == nil {
				t.Fatal("no error, want one")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != maxProblems+1 {
				t.Errorf("got %d lines, want %d", len(lines), maxProblems+1)
			}
			if !strings.HasPrefix(lines[0], tt.first) {
				t.Errorf("first line = %q, want %q...", lines[0], tt.first)
			}
			if last := lines[len(lines)-1]; last != tt.last {
				t.Errorf("last line = %q, want %q", last, tt.last)
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile error = %v, want os.ErrNotExist", err)
	}
}

func TestDurationYAML(t *testing.T) {
	tests := []struct {
		in   string
		want Duration
		out  string
	}{
		{"10s", Duration(10 * time.Second), "10s"},
		{"0", 0, "0s"},
		{"1m30s", Duration(90 * time.Second), "1m30s"},
		{"250ms", Duration(250 * time.Millisecond), "250ms"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got Duration
			if err := yaml.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if got != tt.want {
				t.Errorf("unmarshal %q = %v, want %v", tt.in, got, tt.want)
			}
			b, err := yaml.Marshal(got)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if s := strings.TrimSpace(string(b)); s != tt.out {
				t.Errorf("marshal = %q, want %q", s, tt.out)
			}
		})
	}
}

func TestFieldErrorFormat(t *testing.T) {
	tests := []struct {
		err  FieldError
		want string
	}{
		{FieldError{File: "q.yaml", Line: 3, Field: "load.rates[0]", Msg: "m"}, "q.yaml:3: load.rates[0]: m"},
		{FieldError{File: "q.yaml", Msg: "m"}, "q.yaml: m"},
		{FieldError{Field: "topology.nodes", Msg: "m"}, "topology.nodes: m"},
		{FieldError{Line: 2, Msg: "m"}, "line 2: m"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
