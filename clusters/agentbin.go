package clusters

import (
	"fmt"
	"os"
	"path/filepath"
)

// AgentBinaryName is the slim binary of the agents (cmd/meshbench-agent):
// the node roles without the CLI's dependencies.
const AgentBinaryName = "meshbench-agent"

// AgentExecutable returns the binary that providers run as agents in pods
// and on nodes: meshbench-agent beside the running executable when it is
// there, else the running executable itself, which has every role too but
// carries the whole CLI into each agent's memory. slim says which it is.
func AgentExecutable() (path string, slim bool, err error) {
	self, err := os.Executable()
	if err != nil {
		return "", false, fmt.Errorf("find meshbench executable: %w", err)
	}
	beside := filepath.Join(filepath.Dir(self), AgentBinaryName)
	if fi, err := os.Stat(beside); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return beside, true, nil
	}
	return self, false, nil
}
