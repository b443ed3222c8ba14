package report

import (
	"fmt"
	"io"

	"github.com/meshbench/meshbench/results"
)

// WriteTerminal writes the run's summary for a terminal: results.WriteTable's
// table, then each datapath's overhead vs none with confidence intervals
// and the repetitions' noise. run is not modified.
func WriteTerminal(w io.Writer, run *results.Run) error {
	if note := run.PartialNote(); note != "" {
		if _, err := fmt.Fprintf(w, "%s\n\n", note); err != nil {
			return fmt.Errorf("render partial banner: %w", err)
		}
	}
	if err := results.WriteTable(w, run); err != nil {
		return err
	}
	v, err := newView(run)
	if err != nil {
		return err
	}
	t := overheadTable(v)
	if len(t.Rows) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nOverhead vs none and noise over repetitions:"); err != nil {
		return fmt.Errorf("render overhead table: %w", err)
	}
	return t.WriteTerminal(w)
}
