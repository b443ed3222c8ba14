// Command meshbench-agent is the slim binary of the processes meshbench
// starts in pods and on nodes: the echo server, the load agent, the proxies
// and the node agents of builtin.Roles. It has none of the CLI's
// dependencies (client-go, kind, the plotting and registry libraries), so
// that the memory measured for a proxy or node agent is that of the role,
// not the start-up heap of the whole CLI. meshbench runs it as
// `meshbench-agent agent ROLE [flags]`, the arguments of `meshbench agent`,
// when it finds it beside its own executable.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/internal/agent"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 || args[0] != "agent" {
		fmt.Fprintln(os.Stderr, "meshbench-agent: meshbench starts this binary as `meshbench-agent agent ROLE [flags]`; run meshbench instead")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := agent.Run(ctx, builtin.Roles(), args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshbench-agent:", err)
		os.Exit(1)
	}
}
