package bench

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/sidecar"
	"github.com/meshbench/meshbench/internal/status"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// TestCoverage runs every datapath with a mislabelled pod and a host
// process beside the meshed client and checks what the datapaths' own
// per-source counters saw: a sidecar mesh none of the unmeshed sources'
// requests, the node-level datapaths the mislabelled pod's, and only eBPF
// attached at the node the host process's too (the node proxy's steering
// hooks prerouting from the pod range, which a node's own connections do
// not cross).
func TestCoverage(t *testing.T) {
	unmeshed := &scenarios.Unmeshed{Sources: []scenarios.Source{
		{Kind: scenarios.SourceMislabelled, Count: 1}, {Kind: scenarios.SourceHost, Count: 1},
	}}
	l4 := scenarios.DatapathOptions{Mode: scenarios.ModeL4}
	node := scenarios.DatapathOptions{Mode: scenarios.ModeL4, Attach: scenarios.AttachNode}
	tests := []struct {
		datapath string
		opts     scenarios.DatapathOptions
		// covered says, per source, whether all of its requests went
		// through the datapath; the others must have none through.
		covered map[string]bool
	}{
		{sidecar.Name, l4, map[string]bool{results.SourceMeshed: true}},
		{nodeproxy.Name, l4, map[string]bool{results.SourceMeshed: true, results.SourceMislabelled: true}},
		{ebpf.Name, l4, map[string]bool{results.SourceMeshed: true}},
		{ebpf.Name, node, map[string]bool{results.SourceMeshed: true, results.SourceMislabelled: true, results.SourceHost: true}},
	}
	var cases []scenarios.Case
	for _, tt := range tests {
		c := testCase(tt.datapath, scenarios.CrossNode, tt.opts, 1)
		c.ID += "-attach" + tt.opts.Attach
		c.Unmeshed, c.ProbeRequests = unmeshed, 5
		cases = append(cases, c)
	}
	// The runner reports a failed uninstall only on its status printer.
	var log bytes.Buffer
	got := runCasesWith(t, clusters.NewRunID(), status.New(&log), cases...)
	if strings.Contains(log.String(), "teardown:") {
		t.Errorf("a case's teardown failed:\n%s", log.String())
	}
	for i, rc := range got {
		tt := tests[i]
		t.Run(rc.ID, func(t *testing.T) {
			if rc.Status != "ok" {
				t.Fatalf("case %s: %s", rc.Status, rc.Error)
			}
			cov := rc.Coverage
			if cov == nil || !cov.Counted || len(cov.Sources) != 3 {
				t.Fatalf("coverage = %+v, want three counted sources", cov)
			}
			want := uint64(cases[i].Rate * cases[i].Duration.Seconds())
			for _, s := range cov.Sources {
				if s.Sent != want || s.Succeeded != want {
					t.Errorf("%s sent %d requests, %d of them answered, want %d and %d", s.Source, s.Sent, s.Succeeded, want, want)
				}
				through := uint64(0)
				if tt.covered[s.Source] {
					through = s.Sent
				}
				if s.Through == nil || *s.Through != through {
					t.Errorf("%s: %v of its %d requests through the datapath, want %d (datapath saw %d of %d connections)",
						s.Source, deref(s.Through), s.Sent, through, s.DatapathConnections, s.Connections)
				}
				// eBPF's own map counts the sources its programs steered, beside the proxies.
				switch bpf := s.BPFConnections; {
				case (bpf != nil) != (tt.datapath == ebpf.Name):
					t.Errorf("%s: BPF per-source count %v, want one for ebpf only", s.Source, deref(bpf))
				case bpf != nil && (*bpf > 0) != (through > 0):
					t.Errorf("%s: the BPF map counted %d steered connections, the proxies %d", s.Source, *bpf, s.DatapathConnections)
				}
				if s.Observable == nil || *s.Observable != through || (through > 0) != (s.DatapathBytes > 0) {
					t.Errorf("%s: %v requests observable with %d bytes counted, want %d", s.Source, deref(s.Observable), s.DatapathBytes, through)
				}
			}
		})
	}
}

// deref is *p for an error message, or "nil".
func deref[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}

// TestSourceCoverage checks how the counters become requests: counted
// requests as they are, counted connections as the share of the source's
// connections they are, all or none exactly.
func TestSourceCoverage(t *testing.T) {
	a, b := netip.MustParseAddr("10.244.0.2"), netip.MustParseAddr("172.18.0.2")
	src := &source{kind: results.SourceHost, addrs: []netip.Addr{a, b}, loads: make([]Load, 2)}
	tests := []struct {
		name          string
		basis         string
		conns         uint64
		before, after map[netip.Addr]datapaths.SourceCounts
		through, mtls uint64
		note          bool
	}{
		{"connections, all", results.BasisConnections, 4, nil,
			map[netip.Addr]datapaths.SourceCounts{a: {Connections: 3, MTLS: 3, Bytes: 9}, b: {Connections: 1, MTLS: 1}}, 100, 100, false},
		{"connections, none", results.BasisConnections, 4, nil,
			map[netip.Addr]datapaths.SourceCounts{}, 0, 0, true},
		{"connections, half, no mtls", results.BasisConnections, 4, nil,
			map[netip.Addr]datapaths.SourceCounts{b: {Connections: 2, Bytes: 1}}, 50, 0, true},
		{"requests since before", results.BasisRequests, 4,
			map[netip.Addr]datapaths.SourceCounts{a: {Requests: 500, MTLS: 500, Bytes: 10}},
			map[netip.Addr]datapaths.SourceCounts{a: {Requests: 580, MTLS: 540, Bytes: 90}, b: {Requests: 20}}, 100, 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cov := &results.Coverage{Counted: true, Basis: tt.basis}
			got := sourceCoverage(src, sent{all: 100, ok: 100}, tt.conns, cov, tt.before, tt.after)
			if got.Through == nil || *got.Through != tt.through || *got.Encrypted != tt.mtls {
				t.Errorf("through %v, encrypted %v, want %d and %d", deref(got.Through), deref(got.Encrypted), tt.through, tt.mtls)
			}
			if (got.Note != "") != tt.note {
				t.Errorf("note %q, want one: %v", got.Note, tt.note)
			}
			if got.Agents != 2 || len(got.Addresses) != 2 {
				t.Errorf("agents %d, addresses %v, want 2 of each", got.Agents, got.Addresses)
			}
		})
	}
	uncounted := sourceCoverage(src, sent{all: 100}, 4, &results.Coverage{}, nil, nil)
	if uncounted.Through != nil || uncounted.Observable != nil {
		t.Errorf("uncounted coverage has figures: %+v", uncounted)
	}
}
