package app

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestCleanupUsage checks that cleanup removes nothing unless told which
// run, or --all, and refuses ids NewRunID cannot mint: one sentence, exit 2.
func TestCleanupUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"neither run nor all", []string{"cleanup"}, "--all"},
		{"both run and all", []string{"cleanup", "--run", "0a1b2c3d", "--all"}, "--run ID"},
		{"kind without run", []string{"cleanup", "--provider", "kind"}, "--all"},
		{"kube without run", []string{"cleanup", "--provider", "kube"}, "--all"},
		{"empty id", []string{"cleanup", "--run", ""}, `""`},
		{"one letter", []string{"cleanup", "--run", "a"}, `"a"`},
		{"path", []string{"cleanup", "--run", "../../etc"}, "../../etc"},
		{"upper case", []string{"cleanup", "--run", "ZZZ"}, "ZZZ"},
		{"too long", []string{"cleanup", "--run", "0a1b2c3d1"}, "0a1b2c3d1"},
		{"kind path", []string{"cleanup", "--provider", "kind", "--run", "../x"}, "../x"},
		{"kube prefix", []string{"cleanup", "--provider", "kube", "--run", "0a"}, `"0a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := Run(context.Background(), tt.args, nil, &stdout, io.Discard)
			if code := exitCode(err, &stderr); code != exitUsage {
				t.Fatalf("exit code: got %d (%v), want %d", code, err, exitUsage)
			}
			if msg := stderr.String(); !strings.Contains(msg, tt.want) || strings.Count(strings.TrimSpace(msg), "\n") > 0 {
				t.Errorf("message %q: want one line mentioning %q", msg, tt.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q: want nothing removed", stdout.String())
			}
		})
	}
}
