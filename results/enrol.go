package results

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// How an enrolment brought the datapath in (Enrolment.Method).
const (
	// EnrolRollingRestart replaced every server pod by a new one with the
	// datapath's containers (a sidecar's rolling restart).
	EnrolRollingRestart = "rolling-restart"
	// EnrolAttach attached the datapath to the running pods.
	EnrolAttach = "attach"
	// EnrolNothing installed nothing (none): the control.
	EnrolNothing = "nothing"
)

// EnrolBin is the width of an enrolment series' bins.
const EnrolBin = 100 * time.Millisecond

// Enrolment is what installing the datapath into the running, unmeshed
// cluster did to an open-loop load that ran through it: an enrolment
// case's block. Times are seconds since the load's first intended send.
type Enrolment struct {
	// AfterS is when the install began, InstallS how long it took (the
	// rolling replacement, or the attach) until it returned.
	AfterS   float64 `json:"after_s"`
	InstallS float64 `json:"install_s"`
	Method   string  `json:"method"`
	// PodsRestarted counts the pods replaced by new ones (new network
	// namespace, cgroup and address; the old one drained and deleted).
	// PodsMeshedInPlace counts the client pods given their containers
	// while running: their load agents are the measurement, which a
	// restart would end, so the harness meshes them in place, as no real
	// cluster can; a real rollout restarts them too.
	PodsRestarted     int `json:"pods_restarted"`
	PodsMeshedInPlace int `json:"pods_meshed_in_place,omitempty"`
	// Counted is set when the datapath's own per-source request counters
	// were read every bin from the install on; CountedBy names them,
	// Reason says why not when they were not.
	Counted   bool   `json:"counted"`
	CountedBy string `json:"counted_by,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// FullS is the time from the install's start until the datapath took
	// in hand every request the clients sent from then to the end (see
	// EnrolmentOf); absent when that never held.
	FullS *float64 `json:"full_s,omitempty"`
	// FinalShare is the share of the requests sent in the load's last
	// second that the datapath counted.
	FinalShare *float64 `json:"final_share,omitempty"`
	// DatapathConnections counts the client connections the datapath
	// took in hand from the install on; ClientConnections those the load
	// agents opened during the load. Fewer of the first than the second
	// means some connections opened after the install went around it.
	DatapathConnections *uint64 `json:"datapath_connections,omitempty"`
	ClientConnections   uint64  `json:"client_connections"`
	// Before, Transition and After split the load at the install's start
	// and end, by intended send time.
	Before     EnrolWindow `json:"before"`
	Transition EnrolWindow `json:"transition"`
	After      EnrolWindow `json:"after"`
	// Note says, in one sentence, what the figures mean for this case.
	Note string `json:"note,omitempty"`
	// BinMS is the series' bin width; Series the load bin by bin.
	BinMS  int          `json:"bin_ms"`
	Series []EnrolPoint `json:"series"`
}

// EnrolWindow is one part of an enrolment's load.
type EnrolWindow struct {
	FromS    float64 `json:"from_s"`
	ToS      float64 `json:"to_s"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	// Resets are the errors that were connection resets.
	Resets uint64  `json:"resets"`
	P99US  float64 `json:"p99_us"`
	MaxUS  float64 `json:"max_us"`
}

// EnrolPoint is one bin of an enrolment series: the requests intended in
// it with their p50, p99 and errors, and, where counted, what the
// datapath's counters took in hand between the polls that bound it
// against the requests completed between them.
type EnrolPoint struct {
	TS       float64 `json:"t_s"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	P50US    float64 `json:"p50_us"`
	P99US    float64 `json:"p99_us"`
	// Sent counts the requests intended between the bin's polls (the
	// datapath counts a request as it passes, soon after it is sent);
	// Through what the datapath counted then; Share their ratio (at most
	// 1, nil when nothing was sent). Before the install nothing is
	// installed: Through is 0; nil where the counters could not be read.
	Sent    uint64   `json:"sent"`
	Through *uint64  `json:"through,omitempty"`
	Share   *float64 `json:"share,omitempty"`
}

// EnrolPoll is one reading of the datapath's counters during an
// enrolment: at At (Unix ns), Through requests from the meshed clients
// counted since the datapath was installed.
type EnrolPoll struct {
	At      int64
	Through uint64
}

// EnrolInput is what EnrolmentOf computes an Enrolment from.
type EnrolInput struct {
	Samples []Sample
	// Start is the load's start; Begin and End the install's (Unix ns).
	Start, Begin, End int64
	// Duration is the load's.
	Duration time.Duration
	// Polls are the counter readings from the install on, in time order;
	// nil when the datapath has no counters to read (Counted false).
	Polls   []EnrolPoll
	Counted bool
}

// EnrolmentOf computes an enrolment's windows and series from its
// samples and polls; the caller fills in how the datapath came in.
//
// A bin's share compares what the datapath counted between two polls
// with the requests sent (intended) between them. FullS is the earliest
// poll from which on the datapath counted, to the last poll (taken once
// every response was in), at least as many requests as the clients sent
// (by intended time) from it on, some: sums, so that a request counted in
// one bin and completed in the next moves no bin past full.
func EnrolmentOf(in EnrolInput) *Enrolment {
	sec := func(t int64) float64 { return float64(t-in.Start) / 1e9 }
	e := &Enrolment{AfterS: sec(in.Begin), InstallS: float64(in.End-in.Begin) / 1e9, Counted: in.Counted, BinMS: int(EnrolBin / time.Millisecond)}
	end := in.Start + int64(in.Duration)
	e.Before = window(in.Samples, in.Start, in.Begin, sec)
	e.Transition = window(in.Samples, in.Begin, in.End, sec)
	e.After = window(in.Samples, in.End, max(end, in.End), sec)

	bins := int(math.Ceil(float64(in.Duration) / float64(EnrolBin)))
	byBin := make([][]float64, bins)
	e.Series = make([]EnrolPoint, bins)
	for i := range e.Series {
		e.Series[i].TS = float64(i) * EnrolBin.Seconds()
	}
	for _, s := range in.Samples {
		k := int((s.Intended - in.Start) / int64(EnrolBin))
		if k < 0 || k >= bins {
			continue
		}
		e.Series[k].Requests++
		if s.Failed() {
			e.Series[k].Errors++
		}
		byBin[k] = append(byBin[k], float64(s.Latency)/float64(time.Microsecond))
	}
	for k, lat := range byBin {
		if len(lat) > 0 {
			slices.Sort(lat)
			e.Series[k].P50US, e.Series[k].P99US = percentile(lat, 0.50), percentile(lat, 0.99)
		}
	}
	if !in.Counted {
		return e
	}
	intended := make([]int64, len(in.Samples))
	for i, s := range in.Samples {
		intended[i] = s.Intended
	}
	slices.Sort(intended)
	sent := func(from, to int64) uint64 { // in (from, to]
		lo, _ := slices.BinarySearch(intended, from+1)
		hi, _ := slices.BinarySearch(intended, to+1)
		return uint64(hi - lo)
	}
	// Before the install there is no datapath: nothing went through it.
	for k := range e.Series {
		from := in.Start + int64(k)*int64(EnrolBin)
		if from+int64(EnrolBin) > in.Begin {
			break
		}
		zero, none := uint64(0), 0.0
		e.Series[k].Sent = sent(from, from+int64(EnrolBin))
		e.Series[k].Through = &zero
		if e.Series[k].Sent > 0 {
			e.Series[k].Share = &none
		}
	}
	// From the install on, each bin takes the interval between the polls
	// that bound its end.
	for i := 1; i < len(in.Polls); i++ {
		p, q := in.Polls[i-1], in.Polls[i]
		k := int((q.At - in.Start - 1) / int64(EnrolBin))
		if k < 0 || k >= bins {
			continue
		}
		pt := &e.Series[k]
		through := q.Through - min(p.Through, q.Through)
		if pt.Through != nil {
			through += *pt.Through
		}
		pt.Through = &through
		pt.Sent += sent(p.At, q.At)
		if pt.Sent > 0 {
			share := min(1, float64(through)/float64(pt.Sent))
			pt.Share = &share
		}
	}
	e.FullS, e.FinalShare = full(in, sec, end)
	return e
}

// full finds FullS (see EnrolmentOf) and the last second's share, both
// over the requests intended from a poll on: the new requests, which
// the datapath counts after that poll, while requests sent before it may
// complete long after on their old path.
func full(in EnrolInput, sec func(int64) float64, end int64) (*float64, *float64) {
	ps := in.Polls
	if len(ps) < 2 {
		return nil, nil
	}
	intended := make([]int64, len(in.Samples))
	for i, s := range in.Samples {
		intended[i] = s.Intended
	}
	slices.Sort(intended)
	since := func(t int64) uint64 { // intended after t, as a bin's (p, q]
		i, _ := slices.BinarySearch(intended, t+1)
		return uint64(len(intended) - i)
	}
	last := ps[len(ps)-1]
	var fullS *float64
	for i := range len(ps) - 1 {
		if n := since(ps[i].At); n > 0 && last.Through-ps[i].Through >= n {
			t := max(0, sec(ps[i].At)-sec(in.Begin))
			fullS = &t
			break
		}
	}
	// The last second of the load: from the first poll at or after it.
	i := slices.IndexFunc(ps, func(p EnrolPoll) bool { return p.At >= end-int64(time.Second) })
	if i < 0 || i == len(ps)-1 {
		i = len(ps) - 2
	}
	var share float64
	if n := since(ps[i].At); n > 0 {
		share = min(1, float64(last.Through-ps[i].Through)/float64(n))
	}
	return fullS, &share
}

// window summarises the samples intended in [from, to).
func window(samples []Sample, from, to int64, sec func(int64) float64) EnrolWindow {
	w := EnrolWindow{FromS: sec(from), ToS: sec(to)}
	var lat []float64
	for _, s := range samples {
		if s.Intended < from || s.Intended >= to {
			continue
		}
		w.Requests++
		if s.Failed() {
			w.Errors++
			if strings.Contains(s.Error, "reset") {
				w.Resets++
			}
		}
		lat = append(lat, float64(s.Latency)/float64(time.Microsecond))
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		w.P99US, w.MaxUS = percentile(lat, 0.99), lat[len(lat)-1]
	}
	return w
}

// percentile is the q quantile of sorted values by the nearest-rank
// method, as HDR histograms report percentiles.
func percentile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// EnrolmentTable is the enrolment cases' figures: how the datapath came
// in (pods restarted, meshed in place), the install's time and the time
// until every new request went through it, the share at the end, the
// errors and resets of the transition, and p99 before, in and after the
// transition with its max; nil when no case has an enrolment block.
func EnrolmentTable(cases []Case) *Table {
	var with []*Case
	for _, c := range groupByPoint(cases) {
		if c.Enrolment != nil {
			with = append(with, c)
		}
	}
	if len(with) == 0 {
		return nil
	}
	point := PointColumns(cases)
	t := &Table{Point: len(point), Key: len(point) + 1}
	for _, col := range point {
		t.Header, t.Number = append(t.Header, col.Header), append(t.Number, col.Number)
	}
	t.Header = append(t.Header, "DATAPATH", "METHOD", "RESTARTED", "IN PLACE", "INSTALL", "TO 100%", "SHARE AT END",
		"ERRORS", "RESETS", "P99 BEFORE", "P99 TRANSITION", "MAX TRANSITION", "P99 AFTER")
	t.Number = append(t.Number, false, false, true, true, true, true, true, true, true, true, true, true, true)
	var notes []string
	for _, c := range with {
		e := c.Enrolment
		row := make([]string, 0, len(t.Header))
		for _, col := range point {
			row = append(row, col.Cell(c))
		}
		full, share := "-", "not counted"
		if e.Counted {
			full = "never"
			if e.FullS != nil {
				full = FormatSeconds(*e.FullS)
			}
			if e.FinalShare != nil {
				share = strconv.FormatFloat(*e.FinalShare*100, 'f', 0, 64) + "%"
			}
		}
		row = append(row, DatapathLabel(c), e.Method, strconv.Itoa(e.PodsRestarted), strconv.Itoa(e.PodsMeshedInPlace),
			FormatSeconds(e.InstallS), full, share,
			strconv.FormatUint(e.Transition.Errors, 10), strconv.FormatUint(e.Transition.Resets, 10),
			orDash(micros(e.Before.P99US)), orDash(micros(e.Transition.P99US)), orDash(micros(e.Transition.MaxUS)), orDash(micros(e.After.P99US)))
		t.Rows = append(t.Rows, row)
		if e.Note != "" {
			notes = append(notes, DatapathLabel(c)+": "+e.Note+".")
		}
		if !e.Counted && e.Reason != "" {
			notes = append(notes, DatapathLabel(c)+": not counted: "+e.Reason+".")
		}
		if e.After.Errors > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d more %s after the transition.", DatapathLabel(c), e.After.Errors, plural(e.After.Errors, "error")))
		}
	}
	t.Notes = append([]string{"Each load started with the cluster unmeshed; the datapath was installed into it while the open-loop load ran on. " +
		"RESTARTED counts the pods replaced by new ones (rolling: new pod ready, endpoint switched in the nodes' service rules, old pod drained and deleted); " +
		"IN PLACE the client pods given their sidecars while running, since their load agents are the measurement (a real rollout restarts them too). " +
		"INSTALL is how long the install took; the transition runs from its start to its end. TO 100% is the time from the install's start until the datapath's own per-source request counters, read every 100 ms, took in hand every request sent from then on; SHARE AT END its share of the requests sent in the last second. " +
		"ERRORS and RESETS are the transition's; latencies are from intended send time."}, notes...)
	return t
}

// micros writes a latency in µs, "" for none.
func micros(us float64) string {
	if us <= 0 {
		return ""
	}
	return FormatMicros(us)
}

// plural is word, with an s unless n is 1.
func plural(n uint64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
