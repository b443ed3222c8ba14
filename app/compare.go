package app

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/compare"
)

func newCompareCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "compare BASE CANDIDATE",
		Short: "Compare two runs case by case: base, candidate, delta, p-value and verdict per figure",
		Long: `compare pairs the cases of two runs of the same scenario (run directories or
result files) and prints, for every case and figure, the base and candidate
values (medians over repetitions), the relative change, the p-value and a
verdict: better, worse, no significant change, or inconclusive: too noisy.

Latency, rate and error figures are tested with Welch's t-test on the log
of the per-repetition values; overheads are each datapath's latency over
none's in the same repetition; hops and proxies per node are compared
exactly; datapath memory and CPU, measured once per case, count a change
under 5% and 10% as noise. Exit code 2 when a file is unusable or the
cases do not pair up.`,
		Args: argsBetween(2, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			r, err := compareFiles(args[0], args[1])
			if err != nil {
				return err
			}
			return r.Write(stdout)
		},
	}
}

// compareFiles reads and compares two runs; every failure is a usage
// error naming the file or what does not pair up.
func compareFiles(basePath, candPath string) (*compare.Report, error) {
	base, _, err := readRun(basePath)
	if err != nil {
		return nil, err
	}
	cand, _, err := readRun(candPath)
	if err != nil {
		return nil, err
	}
	r, err := compare.Compare(base, cand)
	if err != nil {
		return nil, usagef("%s against %s: %w", basePath, candPath, err)
	}
	return r, nil
}

// runLimits are a run's scenario gate thresholds, parsed.
func runLimits(path string, run *results.Run) (compare.Limits, error) {
	l, err := compare.LimitsFromMap(run.Gate)
	if err != nil {
		return nil, usagef("gate thresholds recorded in %s: %w", path, err)
	}
	return l, nil
}
