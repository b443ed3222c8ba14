package kube

import "testing"

// TestInjectSelector selects, as clusters.Injected decides, the pods not
// labelled out, or in an opt-in namespace the pods labelled in.
func TestInjectSelector(t *testing.T) {
	for _, tt := range []struct {
		ns     map[string]string
		op     string
		values string
	}{
		{nil, "NotIn", "false"},
		{map[string]string{InjectLabel: "true"}, "NotIn", "false"},
		{map[string]string{InjectLabel: "false"}, "In", "true"},
	} {
		got := injectSelector(tt.ns)
		if got.Key != InjectLabel || string(got.Operator) != tt.op || len(got.Values) != 1 || got.Values[0] != tt.values {
			t.Errorf("injectSelector(%v) = %+v, want %s %s [%s]", tt.ns, got, InjectLabel, tt.op, tt.values)
		}
	}
}
