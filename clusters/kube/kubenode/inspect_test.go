package kubenode

import (
	"os"
	"testing"
)

// The start time is field 22 of /proc/PID/stat, whatever the command holds.
func TestParseStartTime(t *testing.T) {
	tests := []struct {
		stat string
		want uint64
	}{
		{"303 (meshbench) S 1 303 303 0 -1 4194560 200 0 0 0 1 2 0 0 20 0 5 0 123456 1000000 100 18446744073709551615", 123456},
		{"7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0 0", 42},
	}
	for _, tt := range tests {
		got, err := parseStartTime(tt.stat)
		if err != nil || got != tt.want {
			t.Errorf("parseStartTime(%q) = %d, %v, want %d", tt.stat, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2"} {
		if _, err := parseStartTime(bad); err == nil {
			t.Errorf("parseStartTime(%q) succeeded, want an error", bad)
		}
	}
	// The running process started after init.
	self, err := startTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if init, err := startTime(1); err == nil && init > self {
		t.Errorf("init started at %d, after this process at %d", init, self)
	}
}
