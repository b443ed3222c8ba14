package bench

import (
	"context"
	"fmt"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// streamCounter is a server that counts the bytes of the streams it read.
type streamCounter interface {
	StreamBytes(ctx context.Context) (uint64, error)
}

// streamBytes sums what the servers of a stream case that count them
// read so far; 0 for other protocols.
func streamBytes(ctx context.Context, cr *caseRun) (uint64, error) {
	if cr.c.Protocol != scenarios.Stream {
		return 0, nil
	}
	var n uint64
	for _, s := range cr.servers {
		if sc, ok := s.(streamCounter); ok {
			b, err := sc.StreamBytes(ctx)
			if err != nil {
				return 0, fmt.Errorf("read server counters: %w", err)
			}
			n += b
		}
	}
	return n, nil
}

// checkStreamBytes proves that the bytes a stream repetition reports are
// the bytes the servers read since before it (before): each transfer is
// acknowledged by its server, and this checks the sum from their side.
func checkStreamBytes(ctx context.Context, cr *caseRun, before uint64, samples []results.Sample) error {
	if cr.c.Protocol != scenarios.Stream {
		return nil
	}
	after, err := streamBytes(ctx, cr)
	if err != nil {
		return err
	}
	var sent uint64
	for _, s := range samples {
		if s.Error == "" {
			sent += s.Bytes
		}
	}
	// A failed transfer's bytes may have reached its server too.
	if got := after - before; got < sent {
		return fmt.Errorf("the load agents moved %d bytes, but the servers read %d", sent, got)
	}
	return nil
}

// streamRecord summarises one stream repetition: its samples are its
// connections, whose figures the repetition keeps (no samples file).
func streamRecord(rep int, samples []results.Sample) (results.Repetition, error) {
	out, err := results.SummarizeStream(samples)
	if err != nil {
		return out, fmt.Errorf("summarise repetition %d: %w", rep+1, err)
	}
	out.Index = rep
	return out, nil
}
