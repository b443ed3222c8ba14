package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// Samples stream in batches of at most batchSize, at least every flushEvery.
const (
	batchSize  = 1024
	flushEvery = 100 * time.Millisecond
)

// Drain bounds for Deadline.
const (
	minDrain = 2 * time.Second
	maxDrain = 10 * time.Second
)

// Deadline is how long an open-loop attack of duration d may take in all:
// d plus a drain of 10% of d, at least 2 s and at most 10 s. Requests not
// sent by then are not sent, and those still in flight are cut off and
// fail with "context deadline exceeded", so that a datapath that
// black-holes traffic ends an attack within seconds, not after the
// per-request timeout of every request in turn.
func Deadline(d time.Duration) time.Duration {
	return d + min(max(minDrain, d/10), maxDrain)
}

// attack runs a and streams its samples, then Done, as messages with id.
// An open-loop attack ends by its Deadline; a closed loop (Count) has
// none beyond the per-request timeout.
func (l *loader) attack(ctx context.Context, id uint64, a wire.Attack, enc *wire.Encoder) error {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if a.Count == 0 {
		actx, cancel = context.WithTimeout(ctx, Deadline(a.Duration))
	}
	defer cancel()
	samples, planned, began, stop, err := l.start(actx, a)
	if err != nil {
		return fmt.Errorf("attack %q: %w", a.Tag, err)
	}
	defer stop()

	st := newStream(id, enc, stop)
	done := wire.Done{Tag: a.Tag, Planned: planned}
	var errs uint64
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	for samples != nil {
		select {
		case smp, ok := <-samples:
			if !ok {
				samples = nil
				continue
			}
			if smp.Error != "" {
				errs++
			}
			if end := smp.Intended + int64(smp.Latency); end > done.Ended {
				done.Ended = end
			}
			done.Requests++
			st.add(smp)
		case <-flush.C:
			st.flush()
		}
	}
	l.requests += done.Requests
	l.errors += errs
	if err := st.close(); err != nil {
		return fmt.Errorf("stream samples of attack %q: %w", a.Tag, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("attack %q: %w", a.Tag, err)
	}
	if b := began(); !b.IsZero() {
		done.Began = b.UnixNano()
	}
	return enc.Encode(wire.Message{ID: id, Done: &done})
}

// start starts the attack a: a stream's transfers, or a schedule of
// requests. It returns the samples channel, how many requests (transfers)
// are planned, when the attack began once it ended, and stop, which ends
// it early and must be called once it is no longer needed.
func (l *loader) start(ctx context.Context, a wire.Attack) (samples <-chan results.Sample, planned uint64, began func() time.Time, stop func(), err error) {
	if l.streams != nil {
		if a.Count < 0 || (a.Count == 0 && a.Duration <= 0) {
			return nil, 0, nil, nil, errors.New("a stream needs a positive duration or count")
		}
		now := time.Now()
		samples, planned = l.streams.run(ctx, a)
		return samples, planned, func() time.Time { return now }, func() {}, nil
	}
	s, err := newSchedule(ctx, a)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	workers, maxWorkers := l.workers, l.maxWorkers
	if a.Count > 0 {
		workers, maxWorkers = 1, 1 // closed loop: one request after another
	}
	samples, stop = l.run(ctx, s, a.Tag, workers, maxWorkers)
	return samples, s.total, func() time.Time { return s.began }, stop, nil
}

// run starts the attack of s: openLoop's when the loader has an exchanger,
// vegeta's otherwise (http1 and h2c with VegetaClient). The samples
// channel closes when the attack ended; stop ends it early, and must be
// called once it is no longer needed.
func (l *loader) run(ctx context.Context, s *schedule, tag string, workers, maxWorkers uint64) (<-chan results.Sample, func()) {
	if l.exch != nil {
		ctx, cancel := context.WithCancel(ctx)
		return openLoop(ctx, s, l.exch, l.targets, workers, maxWorkers), cancel
	}
	// A vegeta Attacker stops for good when its attack ends, so each attack
	// gets its own; the shared transport keeps the connections warm, and
	// the attack's context cuts off requests in flight at its deadline.
	// MaxBody(0) discards response bodies instead of collecting them.
	client := *l.client
	client.Transport = ctxTransport{ctx: ctx, next: l.client.Transport}
	atk := vegeta.NewAttacker(
		vegeta.Client(&client),
		vegeta.Workers(workers),
		vegeta.MaxWorkers(maxWorkers),
		vegeta.MaxBody(0),
	)
	res := atk.Attack(l.targeter, s, 0, tag)
	// Stop closes a channel: once, whoever asks first.
	var once sync.Once
	stopAtk := func() { once.Do(func() { atk.Stop() }) }
	afterCtx := context.AfterFunc(ctx, stopAtk)
	out := make(chan results.Sample)
	go func() {
		defer close(out)
		for r := range res {
			out <- s.sample(r)
		}
	}()
	return out, func() {
		afterCtx()
		stopAtk()
	}
}

// ctxTransport ends every request, response body included, when ctx ends;
// vegeta's requests carry no context of their own. The client's timeout,
// in the request's context, still applies.
type ctxTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	release := func() {
		stop()
		cancel(nil)
	}
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = releaseBody{resp.Body, release}
	return resp, nil
}

// releaseBody runs release once the body is closed.
type releaseBody struct {
	io.ReadCloser
	release func()
}

func (b releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// stream sends sample batches from a goroutine of its own, so that encoding
// never holds up vegeta's workers, which hand over results unbuffered.
type stream struct {
	batches chan []results.Sample
	cur     []results.Sample
	err     chan error
}

// newStream starts the sender; onErr runs once if sending fails, after which
// batches are dropped until close.
func newStream(id uint64, enc *wire.Encoder, onErr func()) *stream {
	st := &stream{
		batches: make(chan []results.Sample, 64),
		cur:     make([]results.Sample, 0, batchSize),
		err:     make(chan error, 1),
	}
	go func() {
		var err error
		for b := range st.batches {
			if err != nil {
				continue
			}
			if err = enc.Encode(wire.Message{ID: id, Samples: b}); err != nil {
				onErr()
			}
		}
		st.err <- err
	}()
	return st
}

func (st *stream) add(s results.Sample) {
	st.cur = append(st.cur, s)
	if len(st.cur) == batchSize {
		st.flush()
	}
}

func (st *stream) flush() {
	if len(st.cur) == 0 {
		return
	}
	st.batches <- st.cur
	st.cur = make([]results.Sample, 0, batchSize)
}

// close sends what is left and returns the first send error.
func (st *stream) close() error {
	st.flush()
	close(st.batches)
	return <-st.err
}
