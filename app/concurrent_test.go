package app

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

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
		stdout bytes.Buffer
		stderr lockedBuffer
		err    error
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
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// The runs must overlap: at some moment both have clusters up.
	overlapped := false
	started := regexp.MustCompile(`run ([0-9a-f]+): scenario`)
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(20 * time.Millisecond):
		}
		if overlapped {
			continue
		}
		both := true
		for i := range runs {
			m := started.FindStringSubmatch(runs[i].stderr.String())
			both = both && m != nil && len(leftovers(t, m[1]).Namespaces) > 0
		}
		overlapped = both
	}
	if !overlapped {
		t.Error("the two runs never had clusters up at the same time")
	}

	var ids, dirs []string
	for i := range runs {
		r := &runs[i]
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
	if after := testutil.HostNetwork(t); after != before {
		t.Errorf("the runs changed the host's network namespace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
