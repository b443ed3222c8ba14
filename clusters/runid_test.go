package clusters

import "testing"

func TestClusterOfRun(t *testing.T) {
	tests := []struct {
		name, cluster, run string
		want               bool
	}{
		{"case 0", "0a1b2c3d0", "0a1b2c3d", true},
		{"case 12", "0a1b2c3d12", "0a1b2c3d", true},
		{"run id alone", "0a1b2c3d", "0a1b2c3d", true},
		{"other run", "0a1b2c3e0", "0a1b2c3d", false},
		{"prefix of run", "0a1b2c3d0", "0a", false},
		{"empty run", "0a1b2c3d0", "", false},
		{"letters after", "0a1b2c3dab", "0a1b2c3d", false},
		{"upper case", "ZZZ0", "ZZZ", false},
		{"path", "../../etc", "../../etc", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClusterOfRun(tt.cluster, tt.run); got != tt.want {
				t.Errorf("ClusterOfRun(%q, %q) = %v, want %v", tt.cluster, tt.run, got, tt.want)
			}
		})
	}
}

func TestValidRunID(t *testing.T) {
	if id := NewRunID(); !ValidRunID(id) {
		t.Errorf("ValidRunID(NewRunID() = %q) = false", id)
	}
	for _, id := range []string{"", "a", "ZZZ", "../../etc", "0a1b2c3d0", "0a1b2c3g"} {
		if ValidRunID(id) {
			t.Errorf("ValidRunID(%q) = true, want false", id)
		}
	}
}
