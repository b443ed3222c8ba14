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
		maxFlag, format, junit string
		verbose                bool
	)
	cmd := &cobra.Command{
		Use:   "gate BASE CANDIDATE [--max LIMITS] [--format text|json] [--junit FILE]",
		Short: "Fail (exit 1) when CANDIDATE regresses beyond limits against BASE; for CI",
		Long: `gate compares two runs as compare does and checks the changes against
limits: exit 0 when the candidate is within them, 1 on a regression (each
printed), 2 when an input is unusable (missing, corrupt, another schema
version, no case in common, bad limits). Cases only one run has are left
out with a warning, so a rerun of the datapath you changed gates against
the full baseline; overheads need the rerun's none case at the same point.

Limits are metric=limit pairs, comma separated. A limit ending in % is
relative to the base value ("p99_overhead=10%"); a bare number is in the
metric's unit ("hops=0": not one hop more); "off" removes a limit.
Defaults:

  ` + compare.DefaultLimits + `

(hops=0: hops count data-carrying segments only, exact on a loaded
machine too), then the scenario's gate: section (recorded in each run; the candidate's
wins), then --max, each overriding the metrics it names. Metrics:
` + compare.MetricHelp() + `
Hops and proxies per node are deterministic and gated as such. Latency
is gated on overhead relative to none (p99_overhead), which cancels the
machine's speed, and only when the change is significant (Welch's t-test
over repetitions, p < 0.05); absolute latency limits (p99=...) are for
runs on one machine.
A case that ran in the base and failed in the candidate always fails.

--format json writes the verdict, violations, warnings and comparison as
one object; --junit FILE also writes JUnit XML, one testcase per case and
figure, failed for a regression, for CI systems to render.`,
		Example: `  meshbench gate results/baselines/quick /tmp/meshbench-gate/*/result.json
  meshbench gate --junit gate.xml --max hops=0 BASE CANDIDATE`,
		Args: argsBetween(2, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return usagef("--format %q: want text or json", format)
			}
			r, _, err := compareFiles(args[0], args[1])
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
			g := compare.Gate(r, limits)
			if junit != "" {
				if err := writeFile("--junit", junit, func(w io.Writer) error { return g.WriteJUnit(w, r) }); err != nil {
					return err
				}
			}
			switch {
			case format == "json":
				err = g.WriteJSON(stdout, r)
			case verbose:
				if err = r.Write(stdout); err == nil {
					fmt.Fprintln(stdout)
					err = g.Write(stdout)
				}
			default:
				err = g.Write(stdout)
			}
			if err != nil {
				return err
			}
			if !g.OK() {
				return exitError(exitFailure)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&maxFlag, "max", "", "limits over the defaults and the scenario's, e.g. p99_overhead=10%,hops=0,memory=5%")
	cmd.Flags().StringVarP(&format, "format", "f", "text", "output format: text or json (json includes the comparison)")
	cmd.Flags().StringVar(&junit, "junit", "", "also write the verdict as JUnit XML to this file")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the whole comparison before the verdict (text format)")
	return cmd
}
