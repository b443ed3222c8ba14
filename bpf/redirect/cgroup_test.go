package redirect

import "testing"

func TestNested(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"/cg/run/pod", "/cg/run/pod", true},
		{"/cg/run/pod/inner", "/cg/run/pod", true},
		{"/cg/run/pod", "/cg/run/pod/inner", true},
		{"/cg/run/pod", "/cg/run/proxy", false},
		{"/cg/run/pod2", "/cg/run/pod", false},
	}
	for _, tt := range tests {
		if got := nested(tt.a, tt.b); got != tt.want {
			t.Errorf("nested(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
