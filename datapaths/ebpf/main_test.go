package ebpf

import (
	"testing"

	"github.com/meshbench/meshbench/internal/agent/agenttest"
)

func TestMain(m *testing.M) { agenttest.Main(m) }
