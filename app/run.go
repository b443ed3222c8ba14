package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

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
	order       string
	clusters    string
	out         string
	runDir      string
	retain      bool
	wide        bool
	cluster     providerOptions
}

func newRunCommand(stdout, stderr io.Writer) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [NAME|FILE]",
		Short: "Run a scenario (built-in name or YAML file) and write its results",
		Long: `Run a scenario: a built-in one by name (see meshbench list) or a scenario file
(start one with meshbench show quick > my.yaml; meshbench explain describes
every field). Every case gets a fresh cluster unless the scenario says
run.clusters: reuse (or --clusters reuse): netns then hands a cluster to
the next case once nothing of the last is left in it, kind keeps its node
containers for the next case of the same size; everything is torn down
afterwards, also on Ctrl-C.

Datapaths: ` + strings.Join(builtin.Datapaths().Names(), ", ") + `.

Results go to --out/<time>-<run id>/ (or to --run-dir): result.json,
report.md and report.html. The table goes to stdout and ends with the lines
"result: PATH" (the result.json) and "report: PATH" (the report.html);
progress goes to stderr. Exit code 0 when every case ran, 1 when a case
failed or the run was interrupted (what finished is kept), 2 for bad input
(nothing is created).`,
		Example: `  meshbench run                                  # quick: every datapath, same-node and cross-node
  meshbench run quick --datapaths none,sidecar --duration 3s --repetitions 1
  meshbench run seed-mesh --rate 5000 --out results/
  meshbench show quick > my.yaml && meshbench run my.yaml
  meshbench run quick --run-dir /tmp/candidate && meshbench gate BASE /tmp/candidate`,
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
	f.StringSliceVar(&o.datapaths, "datapaths", nil, "datapaths to run, comma separated: "+strings.Join(builtin.Datapaths().Names(), ", ")+" (default: the scenario's)")
	f.DurationVar(&o.duration, "duration", 0, "measurement duration per repetition, with a unit: 500ms, 10s, 1m (default: the scenario's)")
	f.Float64Var(&o.rate, "rate", 0, "request rate in requests/s (default: the scenario's)")
	f.IntVar(&o.repetitions, "repetitions", 0, "repetitions per case (default: the scenario's)")
	f.StringVar(&o.order, "order", "", "order of a point's datapaths' repetitions: "+strings.Join(scenarios.Orders, " or ")+" (default: the scenario's)")
	f.StringVar(&o.clusters, "clusters", "", "a cluster per case ("+scenarios.ClustersFresh+") or reused where nothing is left ("+scenarios.ClustersReuse+"; kind keeps its node containers) (default: the scenario's)")
	f.StringVar(&o.out, "out", DefaultOut, "directory that receives the run directory <time>-<run id>")
	f.StringVar(&o.runDir, "run-dir", "", "write the run into exactly this directory, which must not exist or be empty (instead of a new one under --out)")
	f.BoolVar(&o.retain, "retain", false, "keep each case's cluster for inspection (remove with meshbench cleanup)")
	f.BoolVar(&o.wide, "wide", false, "print every table whole, however wide the terminal (as meshbench report --wide)")
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
	if err := o.checkOut(changed); err != nil {
		return err
	}
	cases := scenarios.Expand(spec)
	var need clusters.Need
	for _, c := range cases {
		need.Nodes = max(need.Nodes, c.Nodes)
		need.Enrol = need.Enrol || c.EnrolAfter > 0
	}
	provider, err := o.cluster.ready(ctx, need)
	if err != nil {
		return err
	}

	runID := clusters.NewRunID()
	dir, discard, err := o.makeRunDir(runID)
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
		Order:     spec.Run.Order,
		// A provider whose clusters cannot be reused creates one per
		// case whatever the scenario asks.
		ReuseClusters: spec.Run.Clusters == scenarios.ClustersReuse,
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
	run.Order = runner.Order()
	if run.Order != spec.Run.Order {
		st.Infof("cases run %s, not %s: on --provider %s the run's clusters share nodes", run.Order, spec.Run.Order, o.cluster.name)
	}
	run.Cases, err = runner.Run(ctx, cases)
	if errors.Is(err, clusters.ErrConfig) && failedCases(run) == len(run.Cases) {
		// Bad input found only when the first cluster was made: nothing
		// was measured, so nothing is kept.
		if rerr := discard(); rerr != nil {
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
	return finish(dir, run, err, stdout, report.TerminalOptions{Wide: o.wide})
}

// finish writes the run's record and reports and says how the run went. A
// record or report that cannot be written (a full disk) is said beside the
// run's own outcome, never instead of it.
func finish(dir string, run *results.Run, runErr error, stdout io.Writer, terminal report.TerminalOptions) error {
	resultPath := filepath.Join(dir, results.ResultFile)
	werr := results.Write(dir, run)
	errs := []error{outcome(run, runErr, resultPath, werr == nil), werr}
	if werr == nil {
		errs = append(errs, report.WriteTerminalWith(stdout, run, terminal))
	}
	rerr := report.WriteAll(dir, run)
	errs = append(errs, rerr)
	if werr == nil {
		fmt.Fprintf(stdout, "result: %s\n", resultPath)
	}
	if rerr == nil {
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, report.HTMLFile))
	}
	return errors.Join(errs...)
}

// outcome is the run's own error: interrupted, or how many cases failed;
// nil when every case ran. kept says whether its record was written.
func outcome(run *results.Run, runErr error, resultPath string, kept bool) error {
	switch failed := failedCases(run); {
	case runErr != nil && kept:
		return fmt.Errorf("run interrupted, partial result kept: %w", runErr)
	case runErr != nil:
		return fmt.Errorf("run interrupted: %w", runErr)
	case failed > 0 && kept:
		return fmt.Errorf("%d of %d cases failed (see the table and %s)", failed, len(run.Cases), resultPath)
	case failed > 0:
		return fmt.Errorf("%d of %d cases failed", failed, len(run.Cases))
	}
	return nil
}

// checkOut refuses, before anything exists, a results directory that
// cannot be made: a file in the way, a directory that is not writable, or
// a --run-dir that already holds something.
func (o runOptions) checkOut(changed func(string) bool) error {
	if o.runDir == "" {
		return creatable("--out", o.out)
	}
	if changed("out") {
		return usagef("--out and --run-dir both say where the run goes; give one of them")
	}
	entries, err := os.ReadDir(o.runDir)
	switch {
	case err == nil && len(entries) > 0:
		return usagef("--run-dir %s is not empty; give a new or empty directory, or remove it first", o.runDir)
	case err == nil, errors.Is(err, fs.ErrNotExist):
		return creatable("--run-dir", o.runDir)
	case errors.Is(err, syscall.ENOTDIR):
		return usagef("--run-dir %s is a file; give a new or empty directory", o.runDir)
	}
	return usagef("--run-dir %s: %w; give another directory", o.runDir, err)
}

// creatable checks that dir is a writable directory, or that the nearest
// of its parents that exists is, so that it can be made.
func creatable(flag, dir string) error {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && p != filepath.Dir(p) {
			continue
		}
		switch {
		case err != nil:
			return usagef("%s %s: %w; give another directory", flag, dir, err)
		case !fi.IsDir():
			return usagef("%s %s: %s is a file, not a directory; give another directory", flag, dir, p)
		}
		if err := unix.Access(p, unix.W_OK); err != nil {
			return usagef("%s %s: cannot write in %s (%w); give another directory", flag, dir, p, err)
		}
		return nil
	}
}

// makeRunDir makes the run's directory: --run-dir, or a new one under
// --out. discard removes what the run made, the directory too unless it
// was there (empty) before.
func (o runOptions) makeRunDir(runID string) (dir string, discard func() error, err error) {
	if o.runDir == "" {
		dir, err := results.NewRunDir(o.out, runID)
		return dir, func() error { return os.RemoveAll(dir) }, err
	}
	if _, err := os.Stat(o.runDir); err == nil {
		return o.runDir, func() error { return removeContents(o.runDir) }, nil
	}
	if err := os.MkdirAll(o.runDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("create run directory: %w", err)
	}
	return o.runDir, func() error { return os.RemoveAll(o.runDir) }, nil
}

// removeContents removes everything in dir, leaving dir.
func removeContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// overrideFlags names the flag that sets each scenario field the command
// line can override, to blame the flag, not the scenario file, for a value
// the flag gave.
var overrideFlags = map[string]string{
	"datapaths":        "--datapaths",
	"load.duration":    "--duration",
	"load.rates":       "--rate",
	"load.repetitions": "--repetitions",
	"run.order":        "--order",
	"run.clusters":     "--clusters",
}

// applyOverrides puts the command-line flags over the scenario and validates
// the result again.
func applyOverrides(spec *scenarios.Spec, known scenarios.Datapaths, o runOptions, changed func(string) bool) error {
	switch {
	case changed("rate") && o.rate <= 0:
		return usagef("--rate %g: the request rate must be > 0 requests/s", o.rate)
	case changed("rate") && spec.Load.Search != nil:
		return usagef("--rate: the scenario searches for each datapath's rate (load.search); leave --rate out, or use a scenario without load.search")
	case changed("duration") && o.duration <= 0:
		return usagef("--duration %s: the measurement duration must be > 0, e.g. 10s", o.duration)
	case changed("repetitions") && o.repetitions < 1:
		return usagef("--repetitions %d: run each case at least once", o.repetitions)
	}
	if changed("datapaths") {
		spec.Datapaths = nil
		for _, d := range o.datapaths {
			d = strings.TrimSpace(d)
			if _, ok := known.Lookup(d); !ok && spec.DatapathOptions[d].Datapath == "" {
				return usagef("--datapaths: unknown datapath %q; choose from %s or a variant the scenario defines", d, strings.Join(known.Names(), ", "))
			}
			spec.Datapaths = append(spec.Datapaths, d)
		}
		if len(spec.Datapaths) == 0 {
			return usagef("--datapaths is empty; name one or more of %s, comma separated, or leave the flag out", strings.Join(known.Names(), ", "))
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
	if changed("order") {
		spec.Run.Order = o.order
	}
	if changed("clusters") {
		spec.Run.Clusters = o.clusters
	}
	err := scenarios.Validate(spec, known)
	if err == nil {
		return nil
	}
	problems := scenarios.Problems(err)
	if len(problems) == 0 {
		return err
	}
	msgs := make([]string, len(problems))
	for i, fe := range problems {
		msgs[i] = fe.Error()
		field, _, _ := strings.Cut(fe.Field, "[")
		if flag, ok := overrideFlags[field]; ok && changed(strings.TrimPrefix(flag, "--")) {
			msgs[i] = flag + ": " + fe.Msg
		}
	}
	return usagef("%s", strings.Join(msgs, "\n"))
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
