package nsenter_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
)

func TestCheck(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"own network namespace", "/proc/self/ns/net", nil},
		{"plain file", file, nsenter.ErrNotNamespace},
		{"missing", filepath.Join(t.TempDir(), "missing"), fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := nsenter.Check(tt.path)
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Errorf("Check(%s) = %v, want %v", tt.path, err, tt.want)
			}
		})
	}
}

func TestDo(t *testing.T) {
	ns := testutil.NetNS(t)
	self := func() string { l, _ := os.Readlink("/proc/thread-self/ns/net"); return l }
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	home := self()
	var inside string
	errFn := errors.New("fn failed")
	err := nsenter.Do(ns, func() error {
		inside = self()
		return errFn
	})
	if !errors.Is(err, errFn) {
		t.Errorf("Do = %v, want fn's error", err)
	}
	if want := "net:[" + inode(t, ns) + "]"; inside != want {
		t.Errorf("inside Do the thread is in %s, want %s", inside, want)
	}
	if got := self(); got != home {
		t.Errorf("after Do the thread is in %s, want %s", got, home)
	}
}

func TestDoRefusesNonNamespaces(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"plain file", file, nsenter.ErrNotNamespace},
		{"missing", "/run/netns/mb-nonexistent", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := nsenter.Do(tt.path, func() error { called = true; return nil })
			if !errors.Is(err, tt.want) {
				t.Errorf("Do(%s) = %v, want %v", tt.path, err, tt.want)
			}
			if called {
				t.Errorf("Do(%s) ran fn", tt.path)
			}
		})
	}
}

// inode returns the inode number of path, which names its namespace.
func inode(tb testing.TB, path string) string {
	tb.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		tb.Fatalf("stat %s: %v", path, err)
	}
	return strconv.FormatUint(st.Ino, 10)
}
