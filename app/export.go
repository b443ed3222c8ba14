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
		Short: "Write a run in another tool's format: benchstat text, CSV, or Meshery/SMP results JSON",
		Long: `export reads RUN (a run directory or result file) and writes it to stdout,
or to --output:

  benchstat  Go benchmark format, one line per repetition, so that
             benchstat old.txt new.txt compares two runs and
             benchstat -col /datapath run.txt puts datapaths side by side
  csv        one row per case and repetition, every figure
  smp        the results as Meshery, the Service Mesh Performance reference
             implementation, stores them: a JSON array of MesheryResult
             objects, one per successful case, each with one fortio-shaped
             runner result per repetition (latency histogram, percentiles
             and return codes from the stored HDR histograms); hops, per-node
             costs and overhead vs none under server_metrics.meshbench.
             Start times come from the raw samples in the run directory
             and are left out when only result.json is given`,
		Args: argsBetween(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			if !slices.Contains(export.Formats, format) {
				return usagef("--format %q: want one of %s", format, strings.Join(export.Formats, ", "))
			}
			run, dir, err := readRun(args[0])
			if err != nil {
				return err
			}
			write := func(w io.Writer) error { return export.Write(w, run, format, dir) }
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
