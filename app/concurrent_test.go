package app

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
)

// TestConcurrentRuns runs two meshbench runs at the same time on this host,
// as two processes, with one results directory: both must succeed with
// their own run ids, result directories, namespaces, cgroups and state
// directories, and neither may leave anything behind.
func TestConcurrentRuns(t *testing.T) {
	testutil.Privileged(t)
	before := testutil.HostNetwork(t)
	out := t.TempDir()
	type outcome struct {
		stdout, stderr bytes.Buffer
		err            error
	}
	var runs [2]outcome
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "run", filepath.Join("testdata", "concurrent.yaml"), "--out", out)
			cmd.Env = append(os.Environ(), appEnv+"=1")
			cmd.Stdout, cmd.Stderr = &runs[i].stdout, &runs[i].stderr
			runs[i].err = cmd.Run()
		})
	}
	wg.Wait()

	var ids, dirs []string
	for i, r := range runs {
		if r.err != nil {
			t.Fatalf("run %d: %v\nstderr:\n%s", i, r.err, r.stderr.String())
		}
		m := regexp.MustCompile(`result: (\S+)`).FindStringSubmatch(r.stdout.String())
		if m == nil {
			t.Fatalf("run %d: stdout does not say where the result went:\n%s", i, r.stdout.String())
		}
		run, err := results.Read(m[1])
		if err != nil {
			t.Fatal(err)
		}
		if run.Partial || len(run.Cases) != 2 {
			t.Errorf("run %d: %d cases, partial %v; want 2 cases, complete", i, len(run.Cases), run.Partial)
		}
		for _, c := range run.Cases {
			if c.Status != "ok" {
				t.Errorf("run %d: %s: status %s: %s", i, c.ID, c.Status, c.Error)
			}
		}
		ids = append(ids, run.ID)
		dirs = append(dirs, filepath.Dir(m[1]))
		assertNoLeftovers(t, run.ID)
	}
	if ids[0] == ids[1] || dirs[0] == dirs[1] {
		t.Errorf("the runs share run id or result directory: ids %q, directories %q", ids, dirs)
	}
	if got, err := os.ReadDir(out); err != nil || len(got) != 2 {
		t.Errorf("results directory holds %d entries (%v), want one per run", len(got), err)
	}
	if slices.Contains(ids, "") {
		t.Errorf("run ids %q: one is empty", ids)
	}
	if after := testutil.HostNetwork(t); after != before {
		t.Errorf("the runs changed the host's network namespace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
