package app

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/results/export"
)

func newExportCommand(stdout io.Writer) *cobra.Command {
	var format, output string
	cmd := &cobra.Command{
		Use:   "export --format benchstat|csv|smp RUN",
		Short: "Write a run in another tool's format: benchstat text, CSV, or Service Mesh Performance (SMP) JSON",
		Long: `export reads RUN (a run directory or result file) and writes it to stdout,
or to --output:

  benchstat  Go benchmark format, one line per repetition, so that
             benchstat old.txt new.txt compares two runs and
             benchstat -col /datapath run.txt puts datapaths side by side
  csv        one row per case and repetition, every figure
  smp        Service Mesh Performance result JSON as Meshery reads it:
             latencies (ms), actual QPS, mesh configurations, environment;
             what SMP lacks (datapath mode, p99.9, hops, per-node costs,
             overhead vs none) in labels`,
		Args: argsBetween(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			if !slices.Contains(export.Formats, format) {
				return usagef("--format %q: want one of %s", format, strings.Join(export.Formats, ", "))
			}
			run, _, err := readRun(args[0])
			if err != nil {
				return err
			}
			write := func(w io.Writer) error { return export.Write(w, run, format) }
			if output == "" {
				return write(stdout)
			}
			return writeFile("--output", output, write)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "benchstat", "output format: "+strings.Join(export.Formats, ", "))
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// writeFile creates path, named by flag in a usage error when it cannot be
// created, and writes it with write; a file whose writing failed is
// removed.
func writeFile(flag, path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return usagef("%s: %w", flag, err)
	}
	err = write(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", path, cerr)
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}
