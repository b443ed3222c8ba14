package app

import (
	"os"
	"testing"
)

// appEnv makes the test binary behave as meshbench: the runner re-executes
// its own executable for in-pod agents, and the interrupt tests start whole
// runs as child processes.
const appEnv = "MESHBENCH_TEST_AS_APP"

func TestMain(m *testing.M) {
	if os.Getenv(appEnv) == "1" || (len(os.Args) > 1 && os.Args[1] == "agent") {
		Main()
	}
	os.Exit(m.Run())
}
