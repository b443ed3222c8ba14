package testutil

import (
	"os/exec"
	"testing"
)

// chromiumNames are the executable names of headless-capable Chromium
// builds, Debian's first.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Chromium returns the path of a Chromium executable for tests that render
// pages, and skips tb (see Skip), saying how to install it, when there is
// none.
func Chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	Skip(tb, "needs a Chromium browser to render report.html (none of chromium, chromium-browser, google-chrome on PATH): apt-get install -y chromium")
	return ""
}
