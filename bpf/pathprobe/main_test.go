package pathprobe_test

import (
	"testing"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/internal/agent/agenttest"
)

// TestMain lets the role's tests start this binary as `agent pathprobe`.
func TestMain(m *testing.M) { agenttest.Main(m, builtin.Roles()) }
