package agent

import (
	"context"
	"sync"
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
	err     error
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

// openLoop runs an attack of s with exchanges of x: a pacer goroutine
// releases request seq at its intended time to an idle worker, starting
// a worker more, up to maxWorkers, when every worker is busy (as vegeta
// does), and each finished exchange becomes a sample measured from its
// intended time. The channel closes once the schedule ended or ctx did and
// every exchange in flight returned.
func openLoop(ctx context.Context, s *schedule, x exchanger, targets int, workers, maxWorkers uint64) <-chan results.Sample {
	out := make(chan results.Sample)
	ticks := make(chan uint64)
	var wg sync.WaitGroup
	work := func() {
		defer wg.Done()
		for seq := range ticks {
			sent := time.Now()
			o := x.exchange(ctx, int(seq%uint64(targets)))
			out <- s.sampleOf(seq, sent, time.Now(), o)
		}
	}
	go func() {
		defer func() {
			close(ticks)
			wg.Wait()
			close(out)
		}()
		started := uint64(0)
		for ; started < max(workers, 1); started++ {
			wg.Add(1)
			go work()
		}
		for hits := uint64(0); ; hits++ {
			if _, stop := s.Pace(0, hits); stop || ctx.Err() != nil {
				return
			}
			select {
			case ticks <- hits:
				continue
			default:
			}
			if started < maxWorkers {
				started++
				wg.Add(1)
				go work()
			}
			select {
			case ticks <- hits:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
