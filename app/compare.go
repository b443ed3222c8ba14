package app

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/compare"
	"github.com/meshbench/meshbench/results/report"
)

// compareFormats are the output formats of compare, the first the default.
var compareFormats = []string{"text", "markdown", "json"}

func newCompareCommand(stdout io.Writer) *cobra.Command {
	var format, htmlOut string
	cmd := &cobra.Command{
		Use:   "compare BASE CANDIDATE [--format text|markdown|json] [--html FILE]",
		Short: "Compare two runs case by case: base, candidate, delta, p-value and verdict per figure",
		Long: `compare pairs the cases of two runs (run directories or result files) by
their matrix point and prints, for every case both ran and every figure,
the base and candidate values (medians over repetitions), the relative
change, the p-value and a verdict: better, worse, no significant change, or
inconclusive: too noisy. As benchstat does, it compares what the runs have
in common and says what it left out, so that a rerun of one datapath
compares with a full run.

Latency, rate and error figures are tested with Welch's t-test on the log
of the per-repetition values; overheads are each datapath's latency over
none's in the same repetition; hops and proxies per node are compared
exactly; datapath memory and CPU, measured once per case, count a change
under 5% and 10% as noise.

--format markdown writes one table of rounded changes, significant ones
marked, for a pull-request comment; --format json every row with its
numbers. --html FILE also writes one self-contained page: that table,
coloured, over the two runs' own reports side by side. Exit code 2 when a
file is unusable or the runs have no case in common.`,
		Example: `  meshbench compare results/baselines/quick /tmp/meshbench-gate/*/result.json
  meshbench compare --format markdown BASE CANDIDATE > comment.md
  meshbench compare --html compare.html BASE CANDIDATE`,
		Args: argsBetween(2, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			if !slices.Contains(compareFormats, format) {
				return usagef("--format %q: want one of %s", format, strings.Join(compareFormats, ", "))
			}
			r, dirs, err := compareFiles(args[0], args[1])
			if err != nil {
				return err
			}
			if htmlOut != "" {
				if err := writeCompareHTML(htmlOut, r, dirs); err != nil {
					return err
				}
			}
			switch format {
			case "markdown":
				return r.WriteMarkdown(stdout)
			case "json":
				return r.WriteJSON(stdout)
			}
			return r.Write(stdout)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", compareFormats[0], "output format: "+strings.Join(compareFormats, ", "))
	cmd.Flags().StringVar(&htmlOut, "html", "", "also write an HTML comparison to this file: the table, the latency charts of both runs overlaid, and both reports side by side")
	return cmd
}

// writeCompareHTML writes the comparison page to path: the latency charts
// of both runs overlaid, drawn from dirs (the run directories, for the
// samples files), and each run's own report, rendered into a scratch
// directory first.
func writeCompareHTML(path string, r *compare.Report, dirs [2]string) error {
	var pages [2][]byte
	for i, run := range []*results.Run{r.Base, r.Candidate} {
		dir, err := os.MkdirTemp("", "meshbench-compare-")
		if err != nil {
			return fmt.Errorf("render report: %w", err)
		}
		err = report.WriteHTML(dir, run)
		if err == nil {
			pages[i], err = os.ReadFile(filepath.Join(dir, report.HTMLFile))
		}
		if rerr := os.RemoveAll(dir); err == nil && rerr != nil {
			err = fmt.Errorf("render report: %w", rerr)
		}
		if err != nil {
			return err
		}
	}
	overlays, err := report.Overlays(r.Base, r.Candidate, dirs[0], dirs[1])
	if err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return writeFile("--html", path, func(w io.Writer) error { return r.WriteHTML(w, pages[0], pages[1], overlays) })
}

// compareFiles reads and compares two runs; every failure is a usage
// error naming the file, or saying that the runs share no case. It also
// returns the runs' directories.
func compareFiles(basePath, candPath string) (*compare.Report, [2]string, error) {
	var dirs [2]string
	base, baseDir, err := readRun(basePath)
	if err != nil {
		return nil, dirs, err
	}
	cand, candDir, err := readRun(candPath)
	if err != nil {
		return nil, dirs, err
	}
	dirs = [2]string{baseDir, candDir}
	r, err := compare.Compare(base, cand)
	if err != nil {
		return nil, dirs, usagef("%s against %s: %w", basePath, candPath, err)
	}
	return r, dirs, nil
}

// runLimits are a run's scenario gate thresholds, parsed.
func runLimits(path string, run *results.Run) (compare.Limits, error) {
	l, err := compare.LimitsFromMap(run.Gate)
	if err != nil {
		return nil, usagef("gate thresholds recorded in %s: %w", path, err)
	}
	return l, nil
}
