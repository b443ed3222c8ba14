package clusters

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// AgentBinaryName is the slim binary of the agents (cmd/meshbench-agent):
// the node roles without the CLI's dependencies.
const AgentBinaryName = "meshbench-agent"

// AgentExecutable returns the binary that providers run as agents in pods
// and on nodes: meshbench-agent beside the running executable when it is
// there and provably of the same build (sameBuild), else the running executable
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

// sameBuild says whether the binaries at a and b come from one build, so
// that an agent binary left from an older build does not speak an older
// protocol to a newer meshbench: the same file, or builds that
// sameBuildInfo matches.
func sameBuild(a, b string) bool {
	ca, errA := os.ReadFile(a)
	cb, errB := os.ReadFile(b)
	if errA == nil && errB == nil && bytes.Equal(ca, cb) {
		return true
	}
	ia, err := buildinfo.ReadFile(a)
	if err != nil {
		return false
	}
	ib, err := buildinfo.ReadFile(b)
	if err != nil {
		return false
	}
	return sameBuildInfo(ia, ib)
}

// buildStampFlag is what `make build` puts into the linker flags of both
// binaries, with one value per build.
const buildStampFlag = "clusters.buildStamp="

// sameBuildInfo says whether two binaries' build information proves them
// built together, by the same Go: the same build stamp (`make build`), the
// same released module version (`go install ...@version`), or the same
// revision of a clean checkout. Builds of a modified checkout without a
// stamp prove nothing: the tree may have changed between them.
func sameBuildInfo(a, b *debug.BuildInfo) bool {
	if a.GoVersion != b.GoVersion {
		return false
	}
	if sa, sb := buildStamp(a), buildStamp(b); sa != "" || sb != "" {
		return sa == sb
	}
	if v := a.Main.Version; v != "" && v != "(devel)" && v == b.Main.Version {
		return true
	}
	rev := buildSetting(a, "vcs.revision")
	return rev != "" && rev == buildSetting(b, "vcs.revision") &&
		buildSetting(a, "vcs.modified") == "false" && buildSetting(b, "vcs.modified") == "false"
}

// buildStamp is the build stamp in bi's linker flags, or "".
func buildStamp(bi *debug.BuildInfo) string {
	_, after, ok := strings.Cut(buildSetting(bi, "-ldflags"), buildStampFlag)
	if !ok {
		return ""
	}
	stamp, _, _ := strings.Cut(after, " ")
	return stamp
}

func buildSetting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
