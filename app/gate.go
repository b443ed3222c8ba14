package app

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/compare"
)

func newGateCommand(stdout io.Writer) *cobra.Command {
	var (
		maxFlag string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "gate BASE CANDIDATE [--max LIMITS]",
		Short: "Fail (exit 1) when CANDIDATE regresses beyond limits against BASE; for CI",
		Long: `gate compares two runs as compare does and checks the changes against
limits: exit 0 when the candidate is within them, 1 on a regression (each
printed), 2 when an input is unusable (missing, corrupt, another schema
version, cases that do not pair up, bad limits).

Limits are metric=limit pairs, comma separated. A limit ending in % is
relative to the base value ("p99_overhead=10%"); a bare number is in the
metric's unit ("hops=0": not one hop more); "off" removes a limit. Defaults:
` + compare.DefaultLimits + `, then the scenario's gate: section (recorded in
each run; the candidate's wins), then --max, each overriding the metrics it
names. Metrics:
` + compare.MetricHelp() + `
Hops and proxies per node are gated exactly. Latency is gated on overhead
relative to none (p99_overhead), which cancels the machine's speed, and
only when the change is significant (Welch's t-test over repetitions,
p < 0.05); absolute latency limits (p99=...) are for runs on one machine.
A case that ran in the base and failed in the candidate always fails.`,
		Args: argsBetween(2, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			r, err := compareFiles(args[0], args[1])
			if err != nil {
				return err
			}
			limits, err := compare.ParseLimits(compare.DefaultLimits)
			if err != nil {
				return err
			}
			for i, run := range []*results.Run{r.Base, r.Candidate} {
				l, err := runLimits(args[i], run)
				if err != nil {
					return err
				}
				limits = limits.Apply(l)
			}
			flagLimits, err := compare.ParseLimits(maxFlag)
			if err != nil {
				return usagef("--max: %w", err)
			}
			limits = limits.Apply(flagLimits)
			if verbose {
				if err := r.Write(stdout); err != nil {
					return err
				}
				fmt.Fprintln(stdout)
			}
			g := compare.Gate(r, limits)
			if err := g.Write(stdout); err != nil {
				return err
			}
			if !g.OK() {
				return exitError(exitFailure)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&maxFlag, "max", "", "limits over the defaults and the scenario's, e.g. p99_overhead=10%,hops=0,memory=5%")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the whole comparison before the verdict")
	return cmd
}
