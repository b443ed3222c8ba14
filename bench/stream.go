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

// streamWaiter is a load agent that counts its stream writes retried
// after ENOMEM.
type streamWaiter interface {
	StreamWriteWaits(ctx context.Context) (uint64, error)
}

// streamCounts are a stream case's counters at one time: the bytes its
// servers read and the writes its load agents retried after ENOMEM.
type streamCounts struct{ read, waits uint64 }

// readStreamCounts sums the counters of a stream case's servers and load
// agents that keep them; zero for other protocols.
func readStreamCounts(ctx context.Context, cr *caseRun) (streamCounts, error) {
	var n streamCounts
	if cr.c.Protocol != scenarios.Stream {
		return n, nil
	}
	for _, s := range cr.servers {
		if sc, ok := s.(streamCounter); ok {
			b, err := sc.StreamBytes(ctx)
			if err != nil {
				return n, fmt.Errorf("read server counters: %w", err)
			}
			n.read += b
		}
	}
	for _, l := range cr.clients {
		if sw, ok := l.(streamWaiter); ok {
			w, err := sw.StreamWriteWaits(ctx)
			if err != nil {
				return n, fmt.Errorf("read load agent counters: %w", err)
			}
			n.waits += w
		}
	}
	return n, nil
}

// checkStream proves that the bytes a stream repetition reports are the
// bytes the servers read since before it: each transfer is acknowledged
// by its server, and this checks the sum from their side. It returns the
// writes retried after ENOMEM in the repetition.
func checkStream(ctx context.Context, cr *caseRun, before streamCounts, samples []results.Sample) (waits uint64, err error) {
	if cr.c.Protocol != scenarios.Stream {
		return 0, nil
	}
	after, err := readStreamCounts(ctx, cr)
	if err != nil {
		return 0, err
	}
	var sent uint64
	for _, s := range samples {
		if s.Error == "" {
			sent += s.Bytes
		}
	}
	// A failed transfer's bytes may have reached its server too.
	if got := after.read - before.read; got < sent {
		return 0, fmt.Errorf("the load agents moved %d bytes, but the servers read %d", sent, got)
	}
	return after.waits - before.waits, nil
}

// streamRecord summarises one stream repetition: its samples are its
// connections, whose figures the repetition keeps (no samples file), with
// the writes retried after ENOMEM.
func streamRecord(rep int, samples []results.Sample, waits uint64) (results.Repetition, error) {
	out, err := results.SummarizeStream(samples)
	if err != nil {
		return out, fmt.Errorf("summarise repetition %d: %w", rep+1, err)
	}
	out.Index = rep
	out.Stream.WriteWaits = waits
	return out, nil
}
