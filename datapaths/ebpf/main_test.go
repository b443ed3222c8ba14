package ebpf

import (
	"testing"

	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/agent/agenttest"
)

// TestMain runs the roles the tests start: the node agent, the node
// proxies, their steering (the strict-mTLS rejections) and the workloads (package builtin, which lists every role,
// imports this one).
func TestMain(m *testing.M) {
	agenttest.Main(m, agent.Roles{
		Role:             NodeAgent,
		proxy.Role:       proxy.Main,
		steer.Role:       steer.Run,
		agent.ServerRole: agent.Server,
		agent.LoadRole:   agent.Load,
	})
}
