package results

import (
	"runtime"
	"strings"
	"testing"
)

func TestProcField(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu: vme\n\nprocessor\t: 1\nmodel name\t: other\n"
	meminfo := "MemTotal:       24576000 kB\nMemFree:         1000 kB\n"
	tests := []struct {
		name, content, key, want string
	}{
		{"cpu model", cpuinfo, "model name", "Intel(R) Xeon(R) CPU @ 2.20GHz"},
		{"value with colon", cpuinfo, "flags", "fpu: vme"},
		{"memory", meminfo, "MemTotal", "24576000 kB"},
		{"absent", meminfo, "model name", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := procField(strings.NewReader(tt.content), tt.key); got != tt.want {
				t.Errorf("procField(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestMemTotal(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"24576000 kB", 24576000 * 1024},
		{"", 0},
		{"12 MB", 0},
		{"x kB", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := memTotal(tt.in); got != tt.want {
				t.Errorf("memTotal(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestCaptureEnvironment(t *testing.T) {
	env := CaptureEnvironment("v0.1.0", "deadbeef")
	if env.MeshbenchVersion != "v0.1.0" || env.GitCommit != "deadbeef" {
		t.Errorf("version, commit = %q, %q, want v0.1.0, deadbeef", env.MeshbenchVersion, env.GitCommit)
	}
	if env.GoVersion != runtime.Version() || env.CPUs != runtime.NumCPU() {
		t.Errorf("go, cpus = %q, %d, want %q, %d", env.GoVersion, env.CPUs, runtime.Version(), runtime.NumCPU())
	}
	if runtime.GOOS == "linux" && (env.Kernel == "" || env.MemoryBytes == 0 || env.Hostname == "") {
		t.Errorf("kernel, memory, hostname = %q, %d, %q, want all set on Linux", env.Kernel, env.MemoryBytes, env.Hostname)
	}
}
