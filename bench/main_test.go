package bench

import (
	"testing"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/internal/agent/agenttest"

	// The datapaths under test register themselves.
	_ "github.com/meshbench/meshbench/datapaths/ebpf"
	_ "github.com/meshbench/meshbench/datapaths/nodeproxy"
	_ "github.com/meshbench/meshbench/datapaths/none"
	_ "github.com/meshbench/meshbench/datapaths/sidecar"
)

func TestMain(m *testing.M) { agenttest.Main(m, builtin.Roles()) }
