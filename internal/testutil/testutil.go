// Package testutil holds the one place that decides whether a privileged test
// may run.
package testutil

import (
	"os"
	"testing"
)

// Privileged skips t, with the reason, unless the test runs as root. CI runs
// as root, so privileged tests always run there.
func Privileged(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (network namespaces, cgroups, BPF): run `make test` as root")
	}
}
