// Package app is the meshbench command line: it parses flags into options and
// calls the library packages. Only Main exits the process.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/scenarios"
)

// Set by the Makefile through -ldflags -X.
var (
	version = "dev"
	commit  = ""
)

// Exit codes.
const (
	exitFailure = 1 // the run or a gate failed
	exitUsage   = 2 // the user must change something
)

// usageError marks a mistake the user must fix: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Main runs meshbench with the process's arguments and exits.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// Run runs one meshbench command.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var code exitError
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintln(stderr, "meshbench:", err)
	if isUsage(err) {
		return exitUsage
	}
	return exitFailure
}

// exitError ends a command with a code and no message of its own (the
// command already printed what went wrong).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u) ||
		errors.Is(err, scenarios.ErrInvalid) ||
		errors.Is(err, clusters.ErrNotRoot) ||
		errors.Is(err, clusters.ErrConfig)
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "meshbench",
		Short: "Measure what a service-mesh datapath costs: latency, memory and CPU per node, packet-path length",
		Long: `meshbench builds a Kubernetes-shaped cluster, installs a service-mesh datapath
(none, sidecar, nodeproxy, ebpf), drives open-loop HTTP load through it and
records latency, per-node cost and packet-path length for every datapath on
the same topology in the same run.`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          unknownCommand,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SuggestionsMinimumDistance = 2
	// --version only: -v is --verbose wherever a command has it (gate).
	root.Flags().Bool("version", false, "print meshbench's version and commit")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return unknownCommand(c.Root(), args)
			}
			return cmd.Help()
		},
	})
	root.AddCommand(
		newRunCommand(stdout, stderr),
		newListCommand(stdout),
		newValidateCommand(stdout),
		newShowCommand(stdout),
		newExplainCommand(stdout),
		newCleanupCommand(stdout),
		newSelfCheckCommand(stdout, stderr),
		newReportCommand(stdout),
		newCompareCommand(stdout),
		newGateCommand(stdout),
		newExportCommand(stdout),
		newAgentCommand(stdin, stdout, stderr),
	)
	for _, c := range root.Commands() {
		c.SilenceUsage, c.SilenceErrors = true, true
	}
	return root
}

func versionString() string {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		// go install …@v1.2.3 stamps the module's version, not ours.
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if c == "" {
		return v
	}
	return v + " (" + c + ")"
}

// unknownCommand refuses any argument to meshbench itself, which can only be
// a mistyped command, suggesting the nearest one.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if near := cmd.SuggestionsFor(args[0]); len(near) > 0 {
		return usagef("unknown command %q; did you mean %s? (see meshbench --help)", args[0], strings.Join(near, " or "))
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return usagef("unknown command %q; the commands are %s", args[0], strings.Join(names, ", "))
}

// flagError turns a flag the parser refused into one sentence that names
// the flag and says what to write.
func flagError(cmd *cobra.Command, err error) error {
	var bad *pflag.InvalidValueError
	var unknown *pflag.NotExistError
	switch {
	case errors.As(err, &unknown) && !cmd.HasParent() && unknown.GetSpecifiedShortnames() == "v":
		return usagef("-v is not a flag of meshbench itself; --version prints the version (-v is --verbose where a command has one, as gate)")
	case !errors.As(err, &bad):
		return usagef("%w; see %s --help", err, cmd.CommandPath())
	}
	f := bad.GetFlag()
	want := map[string]string{
		"duration": "a duration needs a unit, e.g. 2s, 500ms or 1m30s",
		"float64":  "give a number, e.g. 1000",
		"int":      "give a whole number, e.g. 3",
		"bool":     "give true or false",
	}[f.Value.Type()]
	if want == "" {
		return usagef("%w", err)
	}
	return usagef("--%s %s: %s", f.Name, bad.GetValue(), want)
}

// argsBetween accepts lo to hi positional arguments; others are a usage error.
func argsBetween(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usagef("%s takes %d to %d arguments, got %d; see `meshbench %s --help`", cmd.Name(), lo, hi, len(args), cmd.Name())
		}
		return nil
	}
}
