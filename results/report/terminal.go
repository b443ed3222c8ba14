package report

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/term"

	"github.com/meshbench/meshbench/results"
)

// DefaultWidth is the width of the terminal summary when neither COLUMNS
// nor a terminal says otherwise: a log or a file then reads as a common
// terminal shows it.
const DefaultWidth = 120

// TerminalOptions shape the terminal summary.
type TerminalOptions struct {
	// Width is how many columns the summary may take: a table wider than
	// it folds into parts that fit, each repeating the columns that name
	// a row, and notes wrap to it. 0 means Width(w).
	Width int
	// Wide prints every table whole, however wide (--wide).
	Wide bool
}

// Width is the width of the terminal summary written to w: COLUMNS when it
// is set to a positive number, else the terminal's width when w is one,
// else DefaultWidth.
func Width(w io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 0 {
			return n
		}
	}
	return DefaultWidth
}

// WriteTerminal writes the run's summary for a terminal at Width(w), as
// WriteTerminalWith does.
func WriteTerminal(w io.Writer, run *results.Run) error {
	return WriteTerminalWith(w, run, TerminalOptions{})
}

// WriteTerminalWith writes the run's summary for a terminal: the partial
// banner when the run did not finish, then the latency table, the cost and
// packet-path table, and each datapath's overhead vs none with confidence
// intervals and the repetitions' noise, folded to o's width. run is not
// modified.
func WriteTerminalWith(w io.Writer, run *results.Run, o TerminalOptions) error {
	width := o.Width
	switch {
	case o.Wide:
		width = 0
	case width == 0:
		width = Width(w)
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
