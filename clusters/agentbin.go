package clusters

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
)

// AgentBinaryName is the slim binary of the agents (cmd/meshbench-agent):
// the node roles without the CLI's dependencies.
const AgentBinaryName = "meshbench-agent"

// AgentExecutable returns the binary that providers run as agents in pods
// and on nodes: meshbench-agent beside the running executable when it is
// there and built from the same source (same VCS revision and Go version,
// as far as the binaries record them), else the running executable
// itself, which has every role too but carries the whole CLI into each
// agent's memory. slim says which it is.
func AgentExecutable() (path string, slim bool, err error) {
	self, err := os.Executable()
	if err != nil {
		return "", false, fmt.Errorf("find meshbench executable: %w", err)
	}
	beside := filepath.Join(filepath.Dir(self), AgentBinaryName)
	if fi, err := os.Stat(beside); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 && sameBuild(self, beside) {
		return beside, true, nil
	}
	return self, false, nil
}

// sameBuild says whether the binaries at a and b were built from the same
// revision by the same Go, so that an agent binary left from an older build
// does not speak an older protocol to a newer meshbench.
func sameBuild(a, b string) bool {
	ia, err := buildinfo.ReadFile(a)
	if err != nil {
		return false
	}
	ib, err := buildinfo.ReadFile(b)
	if err != nil {
		return false
	}
	return ia.GoVersion == ib.GoVersion && buildSetting(ia, "vcs.revision") == buildSetting(ib, "vcs.revision") &&
		buildSetting(ia, "vcs.modified") == buildSetting(ib, "vcs.modified") && buildSetting(ia, "vcs.time") == buildSetting(ib, "vcs.time")
}

func buildSetting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
