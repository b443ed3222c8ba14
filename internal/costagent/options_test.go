package costagent

import (
	"io"
	"slices"
	"testing"
)

// The role has no flags: Args names it, and it refuses arguments.
func TestOptionsArgs(t *testing.T) {
	args := Options{}.Args()
	if want := []string{"agent", Role}; !slices.Equal(args, want) {
		t.Fatalf("Args() = %q, want %q", args, want)
	}
	if _, err := parseOptions(args[2:], io.Discard); err != nil {
		t.Errorf("parse(%q) = %v, want nil", args, err)
	}
	if _, err := parseOptions([]string{"-every", "1s"}, io.Discard); err == nil {
		t.Error("parse(-every 1s) = nil, want an error")
	}
}
