package results

import (
	"fmt"
	"slices"
	"time"

	"github.com/montanaflynn/stats"
)

// GiB is the unit of a stream's datapath CPU figure.
const GiB = 1 << 30

// Stream is the throughput of a stream case (protocol stream) or of one of
// its repetitions: bulk transfer has no requests, so such a case and its
// repetitions carry this block instead of latency_us, which they omit, and
// their achieved_rps, requests and histograms are absent too.
type Stream struct {
	// Connections transferred at once, Failed of them without the server's
	// byte count (their bytes are not in Bytes).
	Connections int `json:"connections"`
	Failed      int `json:"failed"`
	// Bytes moved client to server, as the servers acknowledged them.
	Bytes uint64 `json:"bytes"`
	// Seconds is the wall time from the first connection's dial to the
	// last transfer's end.
	Seconds float64 `json:"seconds"`
	// Gbps is the total throughput, Bytes × 8 / Seconds / 10^9.
	Gbps float64 `json:"gbps"`
	// PerConnectionGbps spreads the successful connections' throughput,
	// each its bytes over its own transfer time.
	PerConnectionGbps Spread `json:"per_connection_gbps"`
	// WriteWaits counts the load agents' writes that the path refused
	// with ENOMEM (the eBPF datapath's sockmap redirect while the proxy's
	// receive memory is full), each retried after 50 µs as a blocked write
	// would have waited; absent when none was.
	WriteWaits uint64 `json:"write_waits,omitempty"`
}

// Spread is the smallest, median and largest of a set of figures.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// SummarizeStream summarises a stream repetition from its samples, one per
// connection (Sample.Bytes its bytes, Latency its transfer time). It fails
// when no connection moved a byte.
func SummarizeStream(samples []Sample) (Repetition, error) {
	var st Stream
	var per stats.Float64Data
	first, last := int64(0), int64(0)
	kinds := map[string]uint64{}
	for i, s := range samples {
		if i == 0 || s.Intended < first {
			first = s.Intended
		}
		last = max(last, s.Intended+int64(s.Latency))
		st.Connections++
		if kind, failed := sampleError(s); failed {
			st.Failed++
			countKind(kinds, kind)
			continue
		}
		st.Bytes += s.Bytes
		if s.Latency > 0 {
			per = append(per, gbps(s.Bytes, s.Latency))
		}
	}
	if st.Bytes == 0 || last <= first {
		return Repetition{}, fmt.Errorf("summarize stream: %d connections moved no byte", len(samples))
	}
	wall := time.Duration(last - first)
	st.Seconds = wall.Seconds()
	st.Gbps = gbps(st.Bytes, wall)
	st.PerConnectionGbps = spreadOf(per)
	rep := Repetition{
		Stream:    &st,
		ErrorRate: float64(st.Failed) / float64(st.Connections),
		Errors:    uint64(st.Failed),
	}
	if len(kinds) > 0 {
		rep.ErrorKinds = kinds
	}
	return rep, nil
}

// AggregateStream is a stream case's throughput over its repetitions: the
// medians of the rates, the sums of connections, failures, bytes, seconds
// and write waits; nil unless every repetition is a stream's.
func AggregateStream(reps []Repetition) *Stream {
	if len(reps) == 0 || slices.ContainsFunc(reps, func(r Repetition) bool { return r.Stream == nil }) {
		return nil
	}
	var st Stream
	for _, r := range reps {
		st.Connections += r.Stream.Connections
		st.Failed += r.Stream.Failed
		st.Bytes += r.Stream.Bytes
		st.Seconds += r.Stream.Seconds
		st.WriteWaits += r.Stream.WriteWaits
	}
	st.Gbps = median(reps, func(r Repetition) float64 { return r.Stream.Gbps })
	st.PerConnectionGbps = Spread{
		Min:    median(reps, func(r Repetition) float64 { return r.Stream.PerConnectionGbps.Min }),
		Median: median(reps, func(r Repetition) float64 { return r.Stream.PerConnectionGbps.Median }),
		Max:    median(reps, func(r Repetition) float64 { return r.Stream.PerConnectionGbps.Max }),
	}
	return &st
}

// PayloadBytes is what the successful requests among samples moved as
// payload: each response body as received, and each request body of
// requestBytes as sent. Headers and framing are not counted.
func PayloadBytes(samples []Sample, requestBytes int) uint64 {
	var n uint64
	for _, s := range samples {
		if s.Error == "" && s.Code >= 200 && s.Code < 300 {
			n += uint64(s.BytesIn) + uint64(requestBytes)
		}
	}
	return n
}

func gbps(bytes uint64, d time.Duration) float64 { return float64(bytes) * 8 / d.Seconds() / 1e9 }

func spreadOf(xs stats.Float64Data) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	lo, _ := stats.Min(xs)
	m, _ := stats.Median(xs)
	hi, _ := stats.Max(xs)
	return Spread{Min: lo, Median: m, Max: hi}
}
