package results

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CaptureEnvironment describes the machine this process runs on, for
// Run.Environment. version and commit identify the meshbench build. A fact
// that cannot be read is left empty rather than guessed.
func CaptureEnvironment(version, commit string) Environment {
	env := Environment{
		CPUs:             runtime.NumCPU(),
		GoVersion:        runtime.Version(),
		MeshbenchVersion: version,
		GitCommit:        commit,
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		env.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		env.CPUModel = procField(f, "model name")
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		env.MemoryBytes = memTotal(procField(f, "MemTotal"))
		f.Close()
	}
	env.Hostname, _ = os.Hostname()
	return env
}

// procField returns the value of the first "key: value" line with key in a
// /proc file such as cpuinfo or meminfo, or "".
func procField(r io.Reader, key string) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memTotal converts meminfo's "24576000 kB" to bytes, or 0 if malformed.
func memTotal(v string) uint64 {
	n, ok := strings.CutSuffix(v, " kB")
	if !ok {
		return 0
	}
	kb, err := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
	if err != nil {
		return 0
	}
	return kb * 1024
}
