package report

import (
	"fmt"
	"io"

	"github.com/meshbench/meshbench/results"
)

// TerminalOptions shape the terminal summary.
type TerminalOptions struct {
	// Width is how many columns the summary may take: a table wider than
	// it folds into parts that fit, each repeating the columns that name
	// a row, and notes wrap to it. 0 means results.TerminalWidth(w).
	Width int
	// Wide prints every table whole, however wide (--wide).
	Wide bool
}

// WriteTerminal writes the run's summary for a terminal at
// results.TerminalWidth(w), as WriteTerminalWith does.
func WriteTerminal(w io.Writer, run *results.Run) error {
	return WriteTerminalWith(w, run, TerminalOptions{})
}

// WriteTerminalWith writes the run's summary for a terminal: the partial
// banner when the run did not finish, then the tables every report shows
// (latency, cost and packet path, coverage, overhead vs none with
// confidence intervals and the repetitions' noise, claims), folded to o's
// width. run is not modified.
func WriteTerminalWith(w io.Writer, run *results.Run, o TerminalOptions) error {
	width := o.Width
	switch {
	case o.Wide:
		width = 0
	case width == 0:
		width = results.TerminalWidth(w)
	}
	if note := run.PartialNote(); note != "" {
		if _, err := fmt.Fprintf(w, "%s\n\n", note); err != nil {
			return fmt.Errorf("render partial banner: %w", err)
		}
	}
	v, err := newView("", run, false)
	if err != nil {
		return err
	}
	for i, t := range v.tables() {
		sep := "\n"
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(w, "%s%s:\n", sep, t.title); err != nil {
			return fmt.Errorf("render %s table: %w", t.id, err)
		}
		for _, part := range t.table.Fold(width, results.TerminalPadding) {
			if err := part.WriteTerminal(w); err != nil {
				return err
			}
		}
	}
	return nil
}
