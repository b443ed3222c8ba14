package bpf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/testutil"
)

// TestGeneratedUpToDate runs every go:generate line of gen.go with its
// output redirected to a temporary directory and compares the result with
// the committed files, so a C change without `make generate` fails here.
func TestGeneratedUpToDate(t *testing.T) {
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	for line := range strings.Lines(string(src)) {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "//go:generate "); ok {
			lines = append(lines, strings.Fields(cmd))
		}
	}
	if len(lines) == 0 {
		t.Fatal("gen.go has no go:generate lines")
	}

	for _, args := range lines {
		outDir := flagValue(args, "-output-dir")
		t.Run(outDir, func(t *testing.T) {
			// The committed objects are built with this compiler, so they
			// cannot be checked without it.
			cc := flagValue(args, "-cc")
			testutil.LookPath(t, cc, fmt.Sprintf("apt-get install %s llvm-%s", cc, strings.TrimPrefix(cc, "clang-")))
			tmp := t.TempDir()
			cmd := exec.Command(args[0], slices.Clone(args[1:])...)
			for i, a := range cmd.Args {
				if a == "-output-dir" {
					cmd.Args[i+1] = tmp
				}
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
			}
			compareGenerated(t, outDir, tmp)
		})
	}
}

// compareGenerated fails t for every bpf2go output (*_bpfel.*) that differs
// between the committed directory and the fresh one.
func compareGenerated(t *testing.T, committed, fresh string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(fresh, "*_bpfel.*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no generated files in %s (err %v)", fresh, err)
	}
	old, _ := filepath.Glob(filepath.Join(committed, "*_bpfel.*"))
	if len(old) != len(names) {
		t.Errorf("%s holds %d generated files, regeneration makes %d: run `make generate`", committed, len(old), len(names))
	}
	for _, f := range names {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(committed, filepath.Base(f))
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v: run `make generate`", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale (differs from a fresh build): run `make generate`", path)
		}
	}
}

func flagValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}
