package results

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/montanaflynn/stats"
)

// Histogram geometry: latencies in nanoseconds from 1 µs to 60 s, kept to 3
// significant digits (0.1% resolution).
const (
	histLowest  = int64(time.Microsecond)
	histHighest = int64(60 * time.Second)
	histDigits  = 3
)

// maxErrorKinds bounds Repetition.ErrorKinds: a broken run can produce a
// distinct message per request, and result.json must stay small.
const maxErrorKinds = 20

// otherErrors is the ErrorKinds key counting errors past maxErrorKinds.
const otherErrors = "other errors"

// localPort matches the local end of Go's net errors ("read tcp
// 10.0.0.2:41234->10.0.0.1:80"), whose ephemeral port differs per connection.
var localPort = regexp.MustCompile(`:\d+->`)

// RateTolerance is how far below its target rate a case may fall and still
// count as achieving it: a shortfall of more than 1% is one.
const RateTolerance = 0.01

// Plan is what an attack meant to do: send Requests over Duration. Zero
// values stand for an unknown plan.
type Plan struct {
	Requests uint64
	Duration time.Duration
}

// Summarize folds one repetition's samples into its Repetition: latency
// percentiles (from intended send time) over the successful samples, the
// achieved rate, the error rate over all samples, errors counted by kind,
// the connect times of successful samples that opened a connection,
// the pacer's lateness, the encoded HDR histogram, and how many of the
// planned requests were not sent.
//
// The achieved rate is the successful responses over the measured wall
// time, from the earliest intended send to the latest actual send but no
// shorter than the plan's duration, so that a generator that falls behind,
// a datapath too slow to free its connections (the sends queue behind
// them), failed requests and requests never sent all show as a shortfall.
// The last response's latency is not part of it: it is latency, and
// counting it would mark a case short for one slow tail request.
// Lateness is a sample's latency from its intended time minus its latency
// from its actual send (Latency - Service), over every sample.
//
// A sample fails when it has an error or a status code outside 200-299.
// Latencies beyond the histogram's 60 s ceiling are recorded as 60 s. Index
// and Samples are left for the caller to set.
func Summarize(samples []Sample, plan Plan) (Repetition, error) {
	if len(samples) == 0 {
		return Repetition{}, fmt.Errorf("summarize samples: no samples")
	}
	h := hdrhistogram.New(histLowest, histHighest, histDigits)
	connect := hdrhistogram.New(histLowest, histHighest, histDigits)
	late := hdrhistogram.New(1, histHighest, histDigits)
	var errs uint64
	kinds := map[string]uint64{}
	first, last := samples[0].Intended, samples[0].Intended
	for _, s := range samples {
		first = min(first, s.Intended)
		last = max(last, s.Intended+int64(s.Latency-s.Service))
		if err := late.RecordValue(min(max(int64(s.Latency-s.Service), 0), histHighest)); err != nil {
			return Repetition{}, fmt.Errorf("summarize samples: record lateness %v: %w", s.Latency-s.Service, err)
		}
		if kind, failed := sampleError(s); failed {
			errs++
			countKind(kinds, kind)
			continue
		}
		ns := min(max(int64(s.Latency), 0), histHighest)
		if err := h.RecordValue(ns); err != nil {
			return Repetition{}, fmt.Errorf("summarize samples: record latency %v: %w", s.Latency, err)
		}
		if s.Connect > 0 {
			if err := connect.RecordValue(min(int64(s.Connect), histHighest)); err != nil {
				return Repetition{}, fmt.Errorf("summarize samples: record connect time %v: %w", s.Connect, err)
			}
		}
	}
	// The span runs from the first send to the start of the last one.
	// Without a plan, one mean interval more covers the last send's slot.
	wall := max(time.Duration(last-first), plan.Duration)
	if n := len(samples); plan.Duration == 0 && n > 1 {
		wall += wall / time.Duration(n-1)
	}
	if wall <= 0 {
		return Repetition{}, fmt.Errorf("summarize samples: measured wall time %v is not positive", wall)
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return Repetition{}, fmt.Errorf("summarize samples: encode histogram: %w", err)
	}
	total := uint64(len(samples))
	us := func(ns int64) float64 { return float64(ns) / float64(time.Microsecond) }
	rep := Repetition{
		LatencyUS:       HistogramLatency(h),
		AchievedRPS:     float64(total-errs) / wall.Seconds(),
		ErrorRate:       float64(errs) / float64(total),
		Requests:        total,
		Errors:          errs,
		PacerLatenessUS: &Lateness{P50: us(late.ValueAtQuantile(50)), P99: us(late.ValueAtQuantile(99))},
		Histogram:       string(enc),
	}
	if plan.Requests > total {
		rep.Unsent = plan.Requests - total
	}
	if connect.TotalCount() > 0 {
		l := HistogramLatency(connect)
		rep.ConnectUS = &l
	}
	if len(kinds) > 0 {
		rep.ErrorKinds = kinds
	}
	return rep, nil
}

// JudgeRate sets c's AchievedFraction (AchievedRPS over Rate),
// RateShortfall, and PacerLatenessUS (the medians of its repetitions'),
// after Aggregate set AchievedRPS. Repetitions without lateness, written
// before it was measured, leave it unset.
func JudgeRate(c *Case) {
	c.AchievedFraction, c.RateShortfall, c.PacerLatenessUS = nil, false, nil
	if c.Rate > 0 {
		f := c.AchievedRPS / c.Rate
		c.AchievedFraction = &f
		c.RateShortfall = f < 1-RateTolerance
	}
	var p50, p99 stats.Float64Data
	for _, r := range c.Repetitions {
		if r.PacerLatenessUS == nil {
			return
		}
		p50 = append(p50, r.PacerLatenessUS.P50)
		p99 = append(p99, r.PacerLatenessUS.P99)
	}
	if len(p50) == 0 {
		return
	}
	m50, _ := stats.Median(p50)
	m99, _ := stats.Median(p99)
	c.PacerLatenessUS = &Lateness{P50: m50, P99: m99}
}

// sampleError says whether s failed and, if so, its error kind.
func sampleError(s Sample) (kind string, failed bool) {
	switch {
	case s.Error != "":
		return localPort.ReplaceAllString(s.Error, ":*->"), true
	case s.Code < 200 || s.Code > 299:
		return fmt.Sprintf("http status %d", s.Code), true
	}
	return "", false
}

// countKind counts one error of kind, folding new kinds past maxErrorKinds
// into otherErrors.
func countKind(kinds map[string]uint64, kind string) {
	if _, seen := kinds[kind]; !seen && len(kinds) >= maxErrorKinds {
		kind = otherErrors
	}
	kinds[kind]++
}

// HistogramLatency reads the percentiles of a latency histogram (ns) in
// microseconds. It is how both Summarize and reports that decode a
// Repetition's histogram compute Latency, so the two always agree.
func HistogramLatency(h *hdrhistogram.Histogram) Latency {
	us := func(ns int64) float64 { return float64(ns) / float64(time.Microsecond) }
	return Latency{
		P50:  us(h.ValueAtQuantile(50)),
		P90:  us(h.ValueAtQuantile(90)),
		P99:  us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)),
		Max:  us(h.Max()),
		Mean: h.Mean() / float64(time.Microsecond),
	}
}

// DecodeHistogram decodes a Repetition's Histogram field.
func DecodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode latency histogram: %w", err)
	}
	return h, nil
}

// Aggregate summarises a case's repetitions by the median of each figure.
// With no repetitions everything is zero.
func Aggregate(reps []Repetition) (latency Latency, achievedRPS, errorRate float64) {
	if len(reps) == 0 {
		return Latency{}, 0, 0
	}
	latency = medianLatency(reps, func(r Repetition) Latency { return r.LatencyUS })
	achievedRPS = median(reps, func(r Repetition) float64 { return r.AchievedRPS })
	errorRate = median(reps, func(r Repetition) float64 { return r.ErrorRate })
	return latency, achievedRPS, errorRate
}

// AggregateConnect is the median of each connect-time percentile over the
// repetitions, nil unless every repetition measured connect times.
func AggregateConnect(reps []Repetition) *Latency {
	if len(reps) == 0 || slices.ContainsFunc(reps, func(r Repetition) bool { return r.ConnectUS == nil }) {
		return nil
	}
	l := medianLatency(reps, func(r Repetition) Latency { return *r.ConnectUS })
	return &l
}

// median is the median of f over reps, which must not be empty.
func median(reps []Repetition, f func(Repetition) float64) float64 {
	xs := make(stats.Float64Data, len(reps))
	for i, r := range reps {
		xs[i] = f(r)
	}
	// Median fails only on empty input.
	m, _ := stats.Median(xs)
	return m
}

func medianLatency(reps []Repetition, f func(Repetition) Latency) Latency {
	return Latency{
		P50:  median(reps, func(r Repetition) float64 { return f(r).P50 }),
		P90:  median(reps, func(r Repetition) float64 { return f(r).P90 }),
		P99:  median(reps, func(r Repetition) float64 { return f(r).P99 }),
		P999: median(reps, func(r Repetition) float64 { return f(r).P999 }),
		Max:  median(reps, func(r Repetition) float64 { return f(r).Max }),
		Mean: median(reps, func(r Repetition) float64 { return f(r).Mean }),
	}
}
