package scenarios

import (
	"strings"
	"testing"
	"time"
)

// TestExpandEnrol checks that an enrol phase adds, after each point's
// steady cases, one enrolment case per datapath at the service counts it
// names: one repetition of the enrolment's duration, no probe, no
// unmeshed sources.
func TestExpandEnrol(t *testing.T) {
	s := mustLoad(t, `topology:
  services: [1, 2]
  unmeshed: {sources: [{kind: host, count: 1}]}
datapaths: [none, sidecar]
datapathOptions:
  sidecar: {mode: l7}
load:
  duration: 3s
  repetitions: 3
enrol:
  after: 2s
  duration: 4s
  services: [2]
`)
	SetDefaults(s, testDatapaths)
	if err := Validate(s, testDatapaths); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range Expand(s) {
		ids = append(ids, c.ID)
		if !strings.HasSuffix(c.ID, EnrolSuffix) {
			if c.EnrolAfter != 0 {
				t.Errorf("steady case %s: EnrolAfter = %s, want 0", c.ID, c.EnrolAfter)
			}
			continue
		}
		if c.Services != 2 || c.EnrolAfter != 2*time.Second || c.Duration != 4*time.Second || c.Repetitions != 1 || c.ProbeRequests != 0 || c.Unmeshed != nil {
			t.Errorf("enrolment case %+v, want 2 services, after 2s, 4s, 1 repetition, no probe, no unmeshed sources", c)
		}
	}
	want := []string{
		"none/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024",
		"sidecar/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024",
		"none/cross-node/svc=2/rate=1000/conns=8/req=0/resp=1024",
		"sidecar/cross-node/svc=2/rate=1000/conns=8/req=0/resp=1024",
		"none/cross-node/svc=2/rate=1000/conns=8/req=0/resp=1024/enrol",
		"sidecar/cross-node/svc=2/rate=1000/conns=8/req=0/resp=1024/enrol",
	}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Errorf("case IDs:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
}

// TestEnrolUnknownWay checks that a datapath that has no way to join a
// running cluster is refused.
func TestEnrolUnknownWay(t *testing.T) {
	known := Datapaths{{Name: "mesh", Proxy: true}}
	s := mustLoad(t, `datapaths: [mesh]
datapathOptions:
  mesh: {mode: l7}
enrol: {after: 1s}
`)
	SetDefaults(s, known)
	err := Validate(s, known)
	want := "datapaths[0]: datapath mesh cannot enrol into a running cluster: it has no way to join a running cluster; remove it from datapaths or remove enrol"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate = %v, want %q", err, want)
	}
}

// TestEnrolBounds checks that an enrolment's load is bounded as the
// load's is.
func TestEnrolBounds(t *testing.T) {
	s := mustLoad(t, `datapaths: [none]
enrol: {after: 1s, duration: 2h}
`)
	SetDefaults(s, testDatapaths)
	err := Validate(s, testDatapaths)
	if want := "enrol.duration: 2h0m0s is above the allowed maximum of 1h0m0s"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate = %v, want %q", err, want)
	}
}
