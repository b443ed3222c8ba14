package scenarios

import (
	"slices"
	"strings"
	"testing"
)

// The datapaths of the meshbench binary, as the tests know them.
const (
	none      = "none"
	sidecar   = "sidecar"
	nodeProxy = "nodeproxy"
	ebpf      = "ebpf"
)

var testDatapaths = Datapaths{
	{Name: none, Encryption: true, Enrol: EnrolNothing},
	{Name: sidecar, Proxy: true, Enrol: EnrolRestart},
	{Name: nodeProxy, Proxy: true, Waypoint: true, Encryption: true, Enrol: EnrolAttach},
	{Name: ebpf, Proxy: true, ProxyOptional: true, Encryption: true, NodeAttach: true, Enrol: EnrolAttach},
}

// TestDatapathsGiven checks that the names, the default and the option
// rules come from the list given, not from this package.
func TestDatapathsGiven(t *testing.T) {
	known := Datapaths{{Name: "mesh", Proxy: true}, {Name: "plain"}}
	s := mustLoad(t, "datapathOptions:\n  mesh: {proxy: \"off\", mode: l7}\n  plain: {mtls: true}\n  none: {}")
	SetDefaults(s, known)
	if got, want := s.Datapaths, []string{"mesh"}; !slices.Equal(got, want) {
		t.Errorf("default datapaths = %v, want %v (the first given)", got, want)
	}
	err := Validate(s, known)
	for _, want := range []string{
		`t.yaml:4: datapathOptions.mesh.mode: l7 needs a proxy, but proxy is off`,
		`t.yaml:4: datapathOptions.mesh.proxy: off is not possible with any datapath`,
		`t.yaml:5: datapathOptions.plain.mtls: datapath plain has no proxy, so mtls cannot apply`,
		`t.yaml:6: datapathOptions.none: unknown datapath "none"; options can be given for mesh, plain`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to contain %q", err, want)
		}
	}
	if err := Validate(defaulted(), known); err == nil || !strings.Contains(err.Error(), `unknown datapath "none"; valid datapaths are mesh, plain`) {
		t.Errorf("Validate(none against another list) = %v, want none unknown", err)
	}
}
