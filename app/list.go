package app

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/scenarios"
)

func newListCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in scenarios",
		Args:  argsBetween(0, 0),
		RunE: func(*cobra.Command, []string) error {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDESCRIPTION")
			for _, m := range scenarios.Catalog() {
				fmt.Fprintf(tw, "%s\t%s\n", m.Name, m.Description)
			}
			return tw.Flush()
		},
	}
}

func newValidateCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files (or built-in names) without running them",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("validate needs at least one scenario file or built-in name")
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			var bad []error
			for _, a := range args {
				spec, err := scenarios.Resolve(a, builtin.Datapaths().Scenarios())
				if err != nil {
					bad = append(bad, err)
					continue
				}
				fmt.Fprintf(stdout, "%s: ok (%d cases)\n", a, len(scenarios.Expand(spec)))
			}
			if len(bad) > 0 {
				return joinUsage(bad)
			}
			return nil
		},
	}
}

// joinUsage joins errors so that each prints on its own line and the whole
// still counts as a usage error.
func joinUsage(errs []error) error {
	msg := ""
	for i, e := range errs {
		if i > 0 {
			msg += "\n"
		}
		msg += e.Error()
	}
	return usagef("%s", msg)
}
