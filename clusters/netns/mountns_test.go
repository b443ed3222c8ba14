package netns

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/clusters"
)

// TestPodProcessesSeeOnlyTheirState starts a process in a pod and one on
// a node, each told of its own state directory and of another's: the pod
// process has a mount namespace of its own, without the host's /etc or the
// other directory, and writes into its own; the node process (the
// control) sees the host's file system.
func TestPodProcessesSeeOnlyTheirState(t *testing.T) {
	c := newCluster(t, smallSpec(""))
	base := t.TempDir()
	own, other := filepath.Join(base, "own"), filepath.Join(base, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		target  clusters.Target
		private bool
	}{
		{"pod", clusters.Target{Pod: "server-1"}, true},
		{"node", clusters.Target{Node: "n1"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The pod's is made by Start, the node's as an agent would.
			os.RemoveAll(own)
			if !tt.private {
				if err := os.Mkdir(own, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			p, err := c.Start(context.Background(), clusters.ProcSpec{
				Target: tt.target, Name: "fs", Args: []string{"agent", "fs", own, other}, StateDir: own,
			})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			info := map[string]string{}
			for _, l := range readLines(p.Stdout()) {
				k, v, _ := strings.Cut(l, " ")
				info[k] = v
			}
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			sees := map[bool]string{true: "false", false: "true"}[tt.private]
			if info["passwd"] != sees || info["other"] != sees {
				t.Errorf("sees the host's /etc/passwd %s and another state directory %s, want %s", info["passwd"], info["other"], sees)
			}
			if shared := info["mnt"] == self; shared == tt.private {
				t.Errorf("mount namespace %s, the host's %s: want private %v", info["mnt"], self, tt.private)
			}
			if info["write"] != "<nil>" {
				t.Errorf("write into its state directory: %s", info["write"])
			}
			if _, err := os.Stat(filepath.Join(own, "written")); err != nil {
				t.Errorf("the file written in the state directory is not on the host: %v", err)
			}
		})
	}
}
