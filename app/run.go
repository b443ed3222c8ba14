package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/bench"
	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/status"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/report"
	"github.com/meshbench/meshbench/scenarios"
)

// DefaultScenario is what `meshbench run` runs without an argument.
const DefaultScenario = "quick"

// DefaultOut is where run directories go.
const DefaultOut = "meshbench-results"

type runOptions struct {
	datapaths   []string
	duration    time.Duration
	rate        float64
	repetitions int
	out         string
	retain      bool
	cluster     providerOptions
}

func newRunCommand(stdout, stderr io.Writer) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [NAME|FILE]",
		Short: "Run a scenario (built-in name or YAML file) and write its results",
		Long: `Run a scenario: a built-in one by name (see meshbench list) or a scenario file.
Every case gets a fresh cluster; everything is torn down afterwards, also on
Ctrl-C. Results go to --out/<time>-<run id>/result.json; the table goes to
stdout, progress to stderr.`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := DefaultScenario
			if len(args) == 1 {
				name = args[0]
			}
			return runScenario(cmd.Context(), name, o, cmd.Flags().Changed, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.datapaths, "datapaths", nil, "datapaths to run, comma separated (default: the scenario's)")
	f.DurationVar(&o.duration, "duration", 0, "measurement duration per repetition (default: the scenario's)")
	f.Float64Var(&o.rate, "rate", 0, "request rate in requests/s (default: the scenario's)")
	f.IntVar(&o.repetitions, "repetitions", 0, "repetitions per case (default: the scenario's)")
	f.StringVar(&o.out, "out", DefaultOut, "directory that receives the run directory")
	f.BoolVar(&o.retain, "retain", false, "keep each case's cluster for inspection (remove with meshbench cleanup)")
	o.cluster.addFlags(cmd, true)
	return cmd
}

func runScenario(ctx context.Context, name string, o runOptions, changed func(string) bool, stdout, stderr io.Writer) error {
	dps := builtin.Datapaths()
	known := dps.Scenarios()
	spec, err := scenarios.Resolve(name, known)
	if err != nil {
		return err
	}
	if err := applyOverrides(spec, known, o, changed); err != nil {
		return err
	}
	cases := scenarios.Expand(spec)
	var need clusters.Need
	for _, c := range cases {
		need.Nodes = max(need.Nodes, c.Nodes)
	}
	provider, err := o.cluster.ready(ctx, need)
	if err != nil {
		return err
	}

	runID := clusters.NewRunID()
	dir, err := results.NewRunDir(o.out, runID)
	if err != nil {
		return err
	}
	st := status.New(stderr)
	st.Infof("run %s: scenario %s, %d cases, results in %s", runID, spec.Metadata.Name, len(cases), dir)
	run := &results.Run{
		SchemaVersion: results.SchemaVersion,
		ID:            runID,
		Scenario:      spec.Metadata.Name,
		ScenarioHash:  scenarios.Hash(spec, known),
		Provider:      o.cluster.name,
		StartedAt:     time.Now().UTC(),
		Environment:   results.CaptureEnvironment(version, commit),
		Gate:          spec.Gate,
	}
	if exe, _, err := clusters.AgentExecutable(); err == nil {
		run.Environment.AgentBinary = filepath.Base(exe)
	}
	runner := bench.New(bench.Options{
		Provider:  provider,
		Datapaths: dps,
		Status:    st,
		Dir:       dir,
		RunID:     runID,
		Retain:    o.retain,
		Inspect:   stdout,
		// Keep every finished case, so that a killed run loses nothing
		// already measured.
		CaseDone: func(done []results.Case) error {
			snap := *run
			snap.Cases = done
			snap.Partial, snap.PlannedCases = true, len(cases)
			results.Finalize(&snap)
			return results.Write(dir, &snap)
		},
	})
	run.Cases, err = runner.Run(ctx, cases)
	if errors.Is(err, clusters.ErrConfig) && failedCases(run) == len(run.Cases) {
		// Bad input found only when the first cluster was made: nothing
		// was measured, so nothing is kept.
		if rerr := os.RemoveAll(dir); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	run.FinishedAt = time.Now().UTC()
	if len(run.Cases) < len(cases) || ctx.Err() != nil {
		run.Partial, run.PlannedCases = true, len(cases)
		run.Interrupted = ctx.Err() != nil
	}
	results.Finalize(run)
	if werr := results.Write(dir, run); werr != nil {
		return errors.Join(err, werr)
	}
	if terr := report.WriteTerminal(stdout, run); terr != nil {
		return terr
	}
	if rerr := report.WriteAll(dir, run); rerr != nil {
		return errors.Join(err, rerr)
	}
	fmt.Fprintf(stdout, "result: %s\nreport: %s\n", filepath.Join(dir, results.ResultFile), filepath.Join(dir, report.HTMLFile))
	if err != nil {
		return fmt.Errorf("run interrupted, partial result kept: %w", err)
	}
	if failed := failedCases(run); failed > 0 {
		return fmt.Errorf("%d of %d cases failed (see the table and %s)", failed, len(run.Cases), filepath.Join(dir, results.ResultFile))
	}
	return nil
}

// applyOverrides puts the command-line flags over the scenario and validates
// the result again.
func applyOverrides(spec *scenarios.Spec, known scenarios.Datapaths, o runOptions, changed func(string) bool) error {
	switch {
	case changed("rate") && o.rate <= 0:
		return usagef("--rate %g: the request rate must be > 0 requests/s", o.rate)
	case changed("duration") && o.duration <= 0:
		return usagef("--duration %s: the measurement duration must be > 0, e.g. 10s", o.duration)
	case changed("repetitions") && o.repetitions < 1:
		return usagef("--repetitions %d: run each case at least once", o.repetitions)
	}
	if changed("datapaths") {
		spec.Datapaths = nil
		for _, d := range o.datapaths {
			d = strings.TrimSpace(d)
			if _, ok := known.Lookup(d); !ok {
				return usagef("--datapaths: unknown datapath %q; choose from %s", d, strings.Join(known.Names(), ", "))
			}
			spec.Datapaths = append(spec.Datapaths, d)
		}
	}
	if changed("duration") {
		spec.Load.Duration = scenarios.Duration(o.duration)
	}
	if changed("rate") {
		spec.Load.Rates = []float64{o.rate}
	}
	if changed("repetitions") {
		spec.Load.Repetitions = o.repetitions
	}
	if err := scenarios.Validate(spec, known); err != nil {
		return fmt.Errorf("with the command-line flags: %w", err)
	}
	return nil
}

func failedCases(run *results.Run) int {
	n := 0
	for _, c := range run.Cases {
		if c.Status != "ok" {
			n++
		}
	}
	return n
}
