package clusters

import "testing"

func TestInjected(t *testing.T) {
	yes, no := map[string]string{InjectLabel: "true"}, map[string]string{InjectLabel: "false"}
	tests := []struct {
		name    string
		ns, pod map[string]string
		want    bool
	}{
		{"no labels", nil, nil, true},
		{"namespace injects", yes, nil, true},
		{"namespace injects, pod opts out", yes, no, false},
		{"namespace opts out, pod unlabelled", no, nil, false},
		{"namespace opts out, pod opts in", no, yes, true},
		{"other labels only", map[string]string{"app": "x"}, map[string]string{"app": "y"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Injected(tt.ns, tt.pod); got != tt.want {
				t.Errorf("Injected(%v, %v) = %v, want %v", tt.ns, tt.pod, got, tt.want)
			}
		})
	}
}
