// Package testutil holds what tests across the tree share: the one place
// that decides whether a test may skip (Skip, SkipIfNotSupported,
// Privileged, Chromium, LookPath, KubeCluster), throwaway network
// namespaces, a TCP echo listener, golden files and a fingerprint of the
// host's network.
//
// Nothing a test needs may quietly skip in CI: with
// MESHBENCH_REQUIRE_PRIVILEGED=1 (set by .ci/run) a skip for want of root,
// a tool or a browser fails instead, and a missing kernel feature fails on
// kernels new enough to have it.
package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Environment switches that turn skips into failures, each set to "1"
// where the machine is known to have what the skipped tests need.
const (
	// RequirePrivileged covers root, tools (clang) and Chromium; .ci/run
	// sets it for `make test`.
	RequirePrivileged = "MESHBENCH_REQUIRE_PRIVILEGED"
	// RequireKube covers the local test cluster; `make test-kube` sets it.
	RequireKube = "MESHBENCH_REQUIRE_KUBE"
)

// Skip skips tb because the machine lacks something (root, a tool, a
// browser); the reason says what and how to get it. With
// MESHBENCH_REQUIRE_PRIVILEGED=1 it fails tb with the same reason instead.
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	skipUnless(tb, RequirePrivileged, fmt.Sprintf(format, args...))
}

// skipUnless skips tb with reason, or fails it when the switch env is on.
func skipUnless(tb testing.TB, env, reason string) {
	tb.Helper()
	if os.Getenv(env) == "1" {
		tb.Fatalf("%s (not skipped: %s=1)", reason, env)
	}
	tb.Skip(reason)
}

// Privileged skips tb, with the reason, unless the test runs as root (see
// Skip).
func Privileged(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Skip(tb, "needs root (network namespaces, cgroups, BPF): run `make test` as root")
	}
}

// LookPath returns the path of the executable name, and skips tb (see
// Skip) when it is not installed; install says how to install it.
func LookPath(tb testing.TB, name, install string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Skip(tb, "needs %s, which is not installed: %s", name, install)
	}
	return path
}

// SkipIfNotSupported does nothing for a nil err, and fails tb for an err
// that does not wrap ebpf.ErrNotSupported. For a missing kernel feature it
// skips tb on kernels older than minKernel ("5.10"), the first to have
// the feature, and fails it on minKernel and newer, where a missing
// feature is a bug or a broken machine, not a reason to pass.
func SkipIfNotSupported(tb testing.TB, err error, minKernel string) {
	tb.Helper()
	if err == nil {
		return
	}
	if !errors.Is(err, ebpf.ErrNotSupported) {
		tb.Fatal(err)
	}
	release, uerr := kernelRelease()
	if uerr != nil {
		tb.Fatalf("%v (and cannot tell the kernel's version: %v)", err, uerr)
	}
	newer, verr := versionAtLeast(release, minKernel)
	if verr != nil {
		tb.Fatalf("%v (and cannot compare kernel %s with %s: %v)", err, release, minKernel, verr)
	}
	if newer {
		tb.Fatalf("%v: kernel %s should have it (%s or newer)", err, release, minKernel)
	}
	tb.Skipf("%v: kernel %s is older than %s", err, release, minKernel)
}

// kernelRelease returns uname -r.
func kernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// versionAtLeast says whether the kernel release ("6.8.0-45-generic")
// is at least min ("5.10").
func versionAtLeast(release, min string) (bool, error) {
	r, err := parseVersion(release)
	if err != nil {
		return false, err
	}
	m, err := parseVersion(min)
	if err != nil {
		return false, err
	}
	for i := range r {
		if r[i] != m[i] {
			return r[i] > m[i], nil
		}
	}
	return true, nil
}

// parseVersion reads major.minor[.patch] from the start of s; further
// components ("5.15.153.1" on WSL) are ignored.
func parseVersion(s string) ([3]int, error) {
	var v [3]int
	end := strings.IndexFunc(s, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	if end < 0 {
		end = len(s)
	}
	parts := strings.Split(s[:end], ".")
	if len(parts) < 2 {
		return v, fmt.Errorf("parse kernel version %q: want major.minor[.patch]", s)
	}
	for i, p := range parts[:min(len(parts), len(v))] {
		n, err := strconv.Atoi(p)
		if err != nil {
			return v, fmt.Errorf("parse kernel version %q: %w", s, err)
		}
		v[i] = n
	}
	return v, nil
}
