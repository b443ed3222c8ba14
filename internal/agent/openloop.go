package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshbench/meshbench/results"
)

// outcome is what one exchange of a protocol without vegeta's support
// (grpc, tcp-rr, tcp-crr) reports.
type outcome struct {
	// code is exchangeOK for a complete exchange; 0 with err otherwise.
	code    uint16
	bytesIn uint32
	// connect is how long the exchange's own connection took to open
	// (tcp-crr); 0 on a persistent one.
	connect time.Duration
	// sent is when the request went onto its connection, after the wait
	// for a free connection and any dial; zero where the exchange begins
	// with its send (a connection of its own, or multiplexed streams).
	sent time.Time
	err  error
}

// exchangeOK is the sample code of a complete exchange of a protocol that
// has no HTTP status of its own: the code a sample's readers count as a
// success (results.Sample.Code).
const exchangeOK = 200

// exchanger sends one request of a protocol and waits for its response;
// target picks the target, round-robin over seq. Exchanges run
// concurrently, up to the attack's workers.
type exchanger interface {
	exchange(ctx context.Context, target int) outcome
	// close ends the exchanger's connections.
	close()
}

// openLoop runs an attack of s with exchanges of x. Each worker takes the
// next request of the schedule (a shared ticket), waits until its intended
// time and sends it itself, so that the goroutine that wakes is the one
// that sends: no hand-off between a pacer and a worker adds to the
// lateness. A worker that starts an exchange while every other is busy
// starts a worker more, up to maxWorkers, so that one waits for the next
// request; a request that finds every worker busy all the same waits for
// one, and the wait counts in its latency from the intended time. Each
// finished exchange becomes a sample. The channel closes once the schedule
// ended or ctx did and every exchange in flight returned; a request not
// sent by then has no sample.
func openLoop(ctx context.Context, s *schedule, x exchanger, targets int, workers, maxWorkers uint64) <-chan results.Sample {
	out := make(chan results.Sample, batchSize)
	var next, started, busy atomic.Uint64
	var wg sync.WaitGroup
	var work func()
	// spawn starts a worker unless maxWorkers run; the caller holds wg
	// above zero, or is about to wait on it.
	spawn := func() {
		for n := started.Load(); n < max(maxWorkers, 1); n = started.Load() {
			if started.CompareAndSwap(n, n+1) {
				wg.Add(1)
				go work()
				return
			}
		}
	}
	work = func() {
		defer wg.Done()
		for {
			seq := next.Add(1) - 1
			if seq >= s.total || ctx.Err() != nil {
				return
			}
			if !s.wait(seq) {
				return
			}
			sent := time.Now()
			if busy.Add(1) == started.Load() {
				spawn()
			}
			o := x.exchange(ctx, int(seq%uint64(targets)))
			busy.Add(^uint64(0))
			out <- s.sampleOf(seq, sent, time.Now(), o)
		}
	}
	s.begin()
	for range max(workers, 1) {
		spawn()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
}
