package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// envChild makes the test binary run a test's child half: the test that
// skips, run in a process of its own so that its skip or failure can be
// observed from outside.
const envChild = "MESHBENCH_TESTUTIL_CHILD"

func TestSkipFailsUnderTheSwitch(t *testing.T) {
	const reason = "needs a flux capacitor: apt-get install flux"
	if os.Getenv(envChild) == "1" {
		Skip(t, "%s", reason)
		return
	}
	tests := []struct {
		name     string
		env      string
		wantFail bool
	}{
		{"switch off", RequirePrivileged + "=", false},
		{"switch on", RequirePrivileged + "=1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSkipFailsUnderTheSwitch$", "-test.v")
			cmd.Env = append(os.Environ(), envChild+"=1", tt.env)
			out, err := cmd.CombinedOutput()
			failed := strings.Contains(string(out), "--- FAIL: TestSkipFailsUnderTheSwitch")
			skipped := strings.Contains(string(out), "--- SKIP: TestSkipFailsUnderTheSwitch")
			if failed != tt.wantFail || skipped == tt.wantFail || (err != nil) != tt.wantFail {
				t.Errorf("with %s: failed %v, skipped %v, exit %v; want failed %v\n%s", tt.env, failed, skipped, err, tt.wantFail, out)
			}
			if !strings.Contains(string(out), reason) {
				t.Errorf("with %s the output does not give the reason %q:\n%s", tt.env, reason, out)
			}
		})
	}
}

func TestSkipIfNotSupported(t *testing.T) {
	release, err := kernelRelease()
	if err != nil {
		t.Fatal(err)
	}
	unsupported := fmt.Errorf("frobnicate programs: %w", ebpf.ErrNotSupported)
	tests := []struct {
		name      string
		err       error
		minKernel string
		want      string // "pass", "skip" or "fail"
	}{
		{"supported", nil, "99.0", "pass"},
		{"missing on an older kernel", unsupported, "99.0", "skip"},
		{"missing on a new enough kernel", unsupported, "2.6", "fail"},
		{"another error", fmt.Errorf("load: permission denied"), "99.0", "fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if os.Getenv(envChild) == "1" {
				SkipIfNotSupported(t, tt.err, tt.minKernel)
				return
			}
			cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
			cmd.Env = append(os.Environ(), envChild+"=1")
			out, _ := cmd.CombinedOutput()
			got := "pass"
			switch {
			case strings.Contains(string(out), "--- FAIL: "+t.Name()):
				got = "fail"
			case strings.Contains(string(out), "--- SKIP: "+t.Name()):
				got = "skip"
			case !strings.Contains(string(out), "--- PASS: "+t.Name()):
				t.Fatalf("the child did not run %s:\n%s", t.Name(), out)
			}
			if got != tt.want {
				t.Errorf("on kernel %s: %s, want %s\n%s", release, got, tt.want, out)
			}
		})
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		release, min string
		want         bool
	}{
		{"6.8.0-45-generic", "5.10", true},
		{"5.10.0", "5.10", true},
		{"5.4.0-150-generic", "5.10", false},
		{"5.15.153.1-microsoft-standard-WSL2", "5.15.154", false},
		{"6.18.44-fc-v1045", "6.18.44", true},
		{"4.19", "5.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.release+">="+tt.min, func(t *testing.T) {
			got, err := versionAtLeast(tt.release, tt.min)
			if err != nil || got != tt.want {
				t.Errorf("versionAtLeast(%q, %q) = %v, %v; want %v", tt.release, tt.min, got, err, tt.want)
			}
		})
	}
	if _, err := versionAtLeast("six", "5.10"); err == nil {
		t.Error("versionAtLeast of an unparsable release succeeded, want an error")
	}
}
