package agent

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// schedule is the vegeta.Pacer of one attack, and owns its timeline: request
// seq (vegeta's Result.Seq, 0-based) is meant to go out at
// began + seq*interval, and the pacer releases it no earlier. began is taken
// at the first Pace call, so every sample's intended time is known exactly
// while the attack runs and samples can stream.
//
// Why Result.Seq matches the schedule: vegeta numbers requests in the order
// they start, and the request numbered seq starts only after seq+1 pacer
// releases, the last of which came no earlier than intended(seq). So a
// request's intended time is never after its actual send time, and a stalled
// server or a generator that falls behind shows as latency.
type schedule struct {
	// ctx ends the attack early; vegeta's Pacer has no other way in.
	ctx context.Context
	// interval is 0 for a closed loop: each request as soon as the previous
	// one ended, its intended time being its send time.
	interval time.Duration
	total    uint64
	// began is written by the first Pace call; readers get it through the
	// results channel (a result happens after the pacer released it).
	began time.Time
}

var _ vegeta.Pacer = (*schedule)(nil)

// newSchedule validates a and returns its schedule.
func newSchedule(ctx context.Context, a wire.Attack) (*schedule, error) {
	if a.Count > 0 {
		return &schedule{ctx: ctx, total: uint64(a.Count)}, nil
	}
	switch {
	case a.Count < 0:
		return nil, errors.New("count must not be negative")
	case a.Rate <= 0 || math.IsInf(a.Rate, 0) || math.IsNaN(a.Rate):
		return nil, errors.New("rate must be a positive number of requests per second")
	case a.Duration <= 0:
		return nil, errors.New("duration must be positive")
	}
	total := math.Round(a.Rate * a.Duration.Seconds())
	interval := time.Duration(math.Round(float64(time.Second) / a.Rate))
	if total < 1 || interval < 1 {
		return nil, errors.New("rate × duration must make at least one request, at most one per nanosecond")
	}
	return &schedule{ctx: ctx, interval: interval, total: uint64(total)}, nil
}

// Pace releases request hits at its intended time; vegeta then sends it at
// once (the returned wait is always 0).
func (s *schedule) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
	switch {
	case hits >= s.total || s.ctx.Err() != nil:
		return 0, true
	case hits == 0:
		s.begin()
		return 0, false
	}
	return 0, !s.wait(hits)
}

// begin starts the timeline: request 0 is due now.
func (s *schedule) begin() { s.began = time.Now() }

// wait returns at request seq's intended time, never before it: it sleeps,
// and where requests are spinMinInterval apart or more it sleeps until
// spinAhead before and spins the rest. It returns false when ctx ended
// first. A closed loop's requests are due at once.
func (s *schedule) wait(seq uint64) bool {
	if s.interval == 0 {
		return s.ctx.Err() == nil
	}
	t := s.intended(seq)
	if s.interval < spinMinInterval {
		return sleepUntil(s.ctx, t) == nil
	}
	if sleepUntil(s.ctx, t.Add(-spinAhead)) != nil {
		return false
	}
	spinUntil(t)
	return true
}

// Rate is the schedule's constant rate; 0 stands for a closed loop's.
func (s *schedule) Rate(time.Duration) float64 {
	if s.interval == 0 {
		return 0
	}
	return float64(time.Second) / float64(s.interval)
}

func (s *schedule) intended(seq uint64) time.Time {
	return s.began.Add(time.Duration(seq) * s.interval)
}

// sample turns a vegeta result into a wire sample measured from its intended
// send time. Any status outside 2xx is an error.
func (s *schedule) sample(r *vegeta.Result) results.Sample {
	intended := r.Timestamp
	if s.interval > 0 {
		intended = s.intended(r.Seq)
	}
	smp := results.Sample{
		Seq:      r.Seq,
		Intended: intended.UnixNano(),
		Latency:  r.Timestamp.Add(r.Latency).Sub(intended),
		Service:  r.Latency,
		Code:     r.Code,
		BytesIn:  bytesIn(r),
		Error:    r.Error,
	}
	if smp.Error == "" {
		smp.Error = statusError(r.Code)
	}
	return smp
}

// statusError is the error of a response with status code: none for 2xx.
func statusError(code uint16) string {
	if code < 200 || code > 299 {
		return "unexpected status " + strconv.Itoa(int(code))
	}
	return ""
}

// bytesIn is the response body's length. The attacker discards bodies
// without keeping them (vegeta.MaxBody(0)), so it is the declared
// Content-Length. vegeta sets Code only once the whole body was read, so a
// body shorter than declared leaves Code, and bytesIn, at 0.
func bytesIn(r *vegeta.Result) uint32 {
	if r.Code == 0 {
		return 0
	}
	n, err := strconv.ParseUint(r.Headers.Get("Content-Length"), 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// sampleOf is the sample of exchange seq of an openLoop attack, begun at
// sent and ended at end; its actual send is o.sent where the exchange
// waited for a connection first. As with vegeta's, a status outside 2xx is an
// error.
func (s *schedule) sampleOf(seq uint64, sent, end time.Time, o outcome) results.Sample {
	if !o.sent.IsZero() {
		sent = o.sent
	}
	intended := sent
	if s.interval > 0 {
		intended = s.intended(seq)
	}
	smp := results.Sample{
		Seq:      seq,
		Intended: intended.UnixNano(),
		Latency:  end.Sub(intended),
		Service:  end.Sub(sent),
		Code:     o.code,
		BytesIn:  o.bytesIn,
		Connect:  o.connect,
	}
	if o.err != nil {
		smp.Code, smp.Error = 0, o.err.Error()
	} else {
		smp.Error = statusError(o.code)
	}
	return smp
}
