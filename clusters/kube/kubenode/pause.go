package kubenode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/google/nftables"
)

// PauseRole is the agent role every pod's container runs: it does nothing
// until SIGTERM, keeping the container up for the agents Start execs in it.
// In a node agent, it removes on its way out the run's nftables tables
// from the node's namespace and ends the run's host processes and removes
// their cgroups (HostRole), so that deleting the run's namespace (teardown
// or `meshbench cleanup --provider kube` after a killed run) also removes
// the steering a datapath left on the nodes and the processes outside the
// pods.
const PauseRole = "pause"

// PauseOptions are the pause role's flags.
type PauseOptions struct {
	// RemoveTables, when set, is the run ID whose nftables tables
	// (mb-*-RUNID) the role removes from its network namespace on exit,
	// and whose host processes (HostCgroup) it ends.
	RemoveTables string
}

// Args renders the arguments of the meshbench executable that run the
// pause role with o.
func (o PauseOptions) Args() []string {
	args := []string{"agent", PauseRole}
	if o.RemoveTables != "" {
		args = append(args, "-remove-tables", o.RemoveTables)
	}
	return args
}

func parsePauseOptions(args []string, stderr io.Writer) (PauseOptions, error) {
	var o PauseOptions
	fs := flag.NewFlagSet(PauseRole, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.RemoveTables, "remove-tables", "", "on exit, remove the nftables tables mb-*-`RUNID` of this network namespace and the run's host processes")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// Pause runs the pause role: it waits for the end of ctx, which `meshbench
// agent` ties to SIGTERM and SIGINT.
func Pause(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return PauseWith()(ctx, args, stdin, stdout, stderr)
}

// PauseWith returns the pause role which, in a node agent, after removing
// the run's host cgroups (ending what runs in them) and nftables tables,
// runs each of cleanups with the run id: they
// remove what node-level roles put on the node besides tables (the
// WireGuard agent's device, routing rules and routes), should those roles
// have been killed.
func PauseWith(cleanups ...func(runID string) error) func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) error {
		o, err := parsePauseOptions(args, stderr)
		if err != nil {
			return err
		}
		<-ctx.Done()
		if o.RemoveTables == "" {
			return nil
		}
		errs := []error{removeHostCgroups(o.RemoveTables), removeTables(o.RemoveTables)}
		for _, c := range cleanups {
			errs = append(errs, c(o.RemoveTables))
		}
		return errors.Join(errs...)
	}
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
