package kube

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/google/nftables"

	"github.com/meshbench/meshbench/internal/agent"
)

// PauseRole is the agent role every pod's container runs: it does nothing
// until SIGTERM, keeping the container up for the agents Start execs in it.
// In a node agent, it removes on its way out the run's nftables tables
// from the node's namespace, so that deleting the run's namespace (teardown
// or `meshbench cleanup --provider kube` after a killed run) also removes
// the steering a datapath left on the nodes.
const PauseRole = "pause"

func init() { agent.Register(PauseRole, pause) }

// pause waits for the end of ctx, which `meshbench agent` ties to SIGTERM
// and SIGINT.
func pause(ctx context.Context, args []string, _ io.Reader, _, _ io.Writer) error {
	fs := flag.NewFlagSet(PauseRole, flag.ContinueOnError)
	runID := fs.String("remove-tables", "", "on exit, remove the nftables tables mb-*-`RUNID` of this network namespace")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}
	<-ctx.Done()
	if *runID == "" {
		return nil
	}
	return removeTables(*runID)
}

// removeTables deletes the tables of the calling process's network
// namespace that the run's datapaths named "mb-<datapath>-<run id>".
func removeTables(runID string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("connect to nftables: %w", err)
	}
	tables, err := c.ListTables()
	if err != nil {
		return fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range tables {
		if strings.HasPrefix(t.Name, "mb-") && strings.HasSuffix(t.Name, "-"+runID) {
			c.DelTable(t)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("remove the run's nftables tables: %w", err)
	}
	return nil
}
