package app

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/meshbench/meshbench/results/resultstest"
)

// TestReportWidth checks that report's summary fits COLUMNS, and that
// --wide prints the tables whole, wider than that.
func TestReportWidth(t *testing.T) {
	dir := writeRun(t, resultstest.Run(t, resultstest.Options{}))
	t.Setenv("COLUMNS", "80")
	widest := func(s string) int {
		w := 0
		for _, line := range strings.Split(s, "\n") {
			w = max(w, utf8.RuneCountInString(line))
		}
		return w
	}
	for _, tt := range []struct {
		args []string
		fits bool
	}{
		{[]string{"report", dir}, true},
		{[]string{"report", "--wide", dir}, false},
	} {
		stdout, stderr, code := runApp(t, tt.args...)
		if code != 0 {
			t.Fatalf("%s: exit %d, stderr:\n%s", tt.args, code, stderr)
		}
		// The paths printed at the end are as long as the test's
		// directory: measure the tables only.
		tables := stdout[:strings.LastIndex(stdout, "report: ")]
		if w := widest(tables); (w <= 80) != tt.fits {
			t.Errorf("%s: widest line %d columns at COLUMNS=80, want fits=%v:\n%s", tt.args, w, tt.fits, tables)
		}
	}
}
