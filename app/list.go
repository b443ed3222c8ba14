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

func newShowCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|FILE",
		Short: "Print a scenario with every field written out and commented, to start a scenario file from",
		Long: `show prints a built-in scenario (see meshbench list), or a scenario file,
as a scenario file with every field written out, defaults included, and
commented with what it means and its bounds. Read back, it is the same
scenario.`,
		Example: `  meshbench show quick > my.yaml    # edit my.yaml, then:
  meshbench validate my.yaml && meshbench run my.yaml`,
		Args: argsBetween(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			return scenarios.Show(stdout, args[0], builtin.Datapaths().Scenarios())
		},
	}
}

func newExplainCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "explain",
		Short: "Print the scenario file format: every field, its default and its bounds",
		Args:  argsBetween(0, 0),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "# The scenario format: every field with its default. Lists marked matrix are\n"+
				"# dimensions of the case matrix; durations take a unit (500ms, 10s, 1m30s).\n"+
				"# A field left out gets its default; unknown fields are errors.\n%s", scenarios.Reference)
			return err
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
