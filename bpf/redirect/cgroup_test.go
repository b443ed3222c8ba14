package redirect

import (
	"slices"
	"testing"
)

func TestCgroup2Mounts(t *testing.T) {
	got, err := cgroup2Mounts("testdata/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/sys/fs/cgroup/unified", "/mnt/my cgroups"}
	if !slices.Equal(got, want) {
		t.Errorf("cgroup2Mounts() = %q, want %q", got, want)
	}
}

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
