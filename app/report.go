package app

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/report"
)

func newReportCommand(stdout io.Writer) *cobra.Command {
	var terminal report.TerminalOptions
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Re-render a run's reports from its result.json: terminal summary, report.md with charts, report.html",
		Long: `report reads DIR/result.json (DIR is a run directory, or the result file
itself), prints the summary tables, and writes report.md, its PNG charts
under charts/, and report.html into the run directory. report.html is one
self-contained file: open it in any browser, offline.

The summary fits the terminal: a table wider than COLUMNS, or than the
terminal when stdout is one (else 120 columns), folds into parts that
repeat the columns naming each row. --wide prints every table whole.`,
		Args: argsBetween(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			run, dir, err := readRun(args[0])
			if err != nil {
				return err
			}
			if err := report.WriteTerminalWith(stdout, run, terminal); err != nil {
				return err
			}
			if err := report.WriteAll(dir, run); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "report: %s\nmarkdown: %s\n", filepath.Join(dir, report.HTMLFile), filepath.Join(dir, report.MarkdownFile))
			return nil
		},
	}
	cmd.Flags().BoolVar(&terminal.Wide, "wide", false, "print every table whole, however wide the terminal")
	return cmd
}

// readRun reads the run record at path, a run directory or a result file,
// and returns it with its run directory. A missing, unreadable or
// unusable record is a usage error naming the file.
func readRun(path string) (*results.Run, string, error) {
	run, err := results.Read(path)
	if err != nil {
		return nil, "", usageError{err}
	}
	dir := path
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		dir = filepath.Dir(path)
	}
	return run, dir, nil
}
