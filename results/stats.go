package results

import (
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
)

// Confidence is the level of the confidence intervals Finalize reports when
// a case has enough repetitions for it (see Estimate).
const Confidence = 0.95

// Estimate summarises one figure over a case's repetitions.
type Estimate struct {
	// Median of the repetitions' values.
	Median float64 `json:"median"`
	// Lo and Hi bound the distribution-free confidence interval of the
	// median (benchmath's order-statistic interval).
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	// Confidence is the interval's actual level. It is at least
	// Confidence (0.95) from 6 repetitions on. With fewer, no
	// distribution-free 95% interval exists, so [Lo, Hi] is the range of
	// the values and Confidence its level, 1 - 2·0.5ⁿ (0.75 for 3
	// repetitions); with one value it is 0.
	Confidence float64 `json:"confidence"`
	// CV is the coefficient of variation, the sample standard deviation
	// over the mean: the repetitions' noise. 0 with fewer than two values.
	CV float64 `json:"cv"`
}

// LatencyEstimates holds an Estimate per latency figure.
type LatencyEstimates struct {
	P50  Estimate `json:"p50"`
	P90  Estimate `json:"p90"`
	P99  Estimate `json:"p99"`
	P999 Estimate `json:"p999"`
	Max  Estimate `json:"max"`
	Mean Estimate `json:"mean"`
}

// CaseStats summarises a case's repetitions, figure by figure.
type CaseStats struct {
	Repetitions int              `json:"repetitions"`
	LatencyUS   LatencyEstimates `json:"latency_us"`
	AchievedRPS Estimate         `json:"achieved_rps"`
	ErrorRate   Estimate         `json:"error_rate"`
}

// Overhead is a datapath's latency relative to the none datapath at the
// same matrix point, computed repetition by repetition (repetition i of the
// case against repetition i of none, on the same machine, next to each
// other in interleaved order)
// so that the machine's speed cancels out.
type Overhead struct {
	// NoneCase is the ID of the none case compared against.
	NoneCase string `json:"none_case"`
	// Pairs is how many repetitions were paired by index.
	Pairs int `json:"pairs"`
	// Ratio is the case's latency over none's: 1.8 means 80% slower.
	Ratio LatencyEstimates `json:"ratio"`
	// AddedUS is the case's latency minus none's, in microseconds.
	AddedUS LatencyEstimates `json:"added_us"`
}

// LatencyField picks one figure of a Latency.
type LatencyField func(Latency) float64

// The latency figures, in report order.
var (
	P50  LatencyField = func(l Latency) float64 { return l.P50 }
	P90  LatencyField = func(l Latency) float64 { return l.P90 }
	P99  LatencyField = func(l Latency) float64 { return l.P99 }
	P999 LatencyField = func(l Latency) float64 { return l.P999 }
	Max  LatencyField = func(l Latency) float64 { return l.Max }
	Mean LatencyField = func(l Latency) float64 { return l.Mean }
)

// NoneDatapath is the datapath without a mesh that overheads are relative to.
const NoneDatapath = "none"

// Floor reports whether c is the floor that overheads are relative to: the
// none datapath without encryption. none over WireGuard is a variant with
// an overhead of its own.
func (c *Case) Floor() bool { return c.Datapath == NoneDatapath && c.Encryption == "" }

// Finalize computes, for every case that succeeded, its Stats from its
// repetitions and, for datapaths other than none, its OverheadVsNone
// against the successful none case at the same matrix point; a stream
// case has neither, a search case no overhead. It also sets every search
// case's load agent ceiling from none's search at its point. It replaces
// whatever an earlier call computed and leaves failed cases without either,
// so it can run again on a run read back from disk. The runner calls it once
// all cases ran, before Write.
func Finalize(run *Run) {
	defer judgeSearches(run)
	for i := range run.Cases {
		c := &run.Cases[i]
		c.Stats, c.OverheadVsNone = nil, nil
		if c.Status != "ok" || len(c.Repetitions) == 0 || c.Stream != nil {
			// A stream case has no latencies to estimate.
			continue
		}
		c.Stats = caseStats(c.Repetitions)
		if c.Floor() || c.Search != nil {
			// Search cases measure at rates of their own: none's
			// latencies at another rate are no baseline.
			continue
		}
		if none := run.NoneFor(c); none != nil {
			c.OverheadVsNone = overhead(c, none)
		}
	}
}

// caseStats estimates a case's figures over its repetitions.
func caseStats(reps []Repetition) *CaseStats {
	of := func(f func(Repetition) float64) Estimate {
		xs := make([]float64, len(reps))
		for i, r := range reps {
			xs[i] = f(r)
		}
		return EstimateOf(xs)
	}
	lat := func(f LatencyField) Estimate {
		return of(func(r Repetition) float64 { return f(r.LatencyUS) })
	}
	return &CaseStats{
		Repetitions: len(reps),
		LatencyUS: LatencyEstimates{
			P50: lat(P50), P90: lat(P90), P99: lat(P99), P999: lat(P999), Max: lat(Max), Mean: lat(Mean),
		},
		AchievedRPS: of(func(r Repetition) float64 { return r.AchievedRPS }),
		ErrorRate:   of(func(r Repetition) float64 { return r.ErrorRate }),
	}
}

func overhead(c, none *Case) *Overhead {
	pairs := PairRepetitions(c, none)
	if len(pairs) == 0 {
		return nil
	}
	est := func(f LatencyField, combine func(x, base float64) float64) Estimate {
		xs := make([]float64, 0, len(pairs))
		for _, p := range pairs {
			if base := f(p[1].LatencyUS); base > 0 {
				xs = append(xs, combine(f(p[0].LatencyUS), base))
			}
		}
		return EstimateOf(xs)
	}
	ratio := func(x, base float64) float64 { return x / base }
	added := func(x, base float64) float64 { return x - base }
	o := &Overhead{NoneCase: none.ID, Pairs: len(pairs)}
	for _, f := range []struct {
		pick         LatencyField
		ratio, added *Estimate
	}{
		{P50, &o.Ratio.P50, &o.AddedUS.P50},
		{P90, &o.Ratio.P90, &o.AddedUS.P90},
		{P99, &o.Ratio.P99, &o.AddedUS.P99},
		{P999, &o.Ratio.P999, &o.AddedUS.P999},
		{Max, &o.Ratio.Max, &o.AddedUS.Max},
		{Mean, &o.Ratio.Mean, &o.AddedUS.Mean},
	} {
		*f.ratio, *f.added = est(f.pick, ratio), est(f.pick, added)
	}
	return o
}

// PairRepetitions pairs the repetitions of c with those of base that have
// the same Index, in c's order: pair[0] is c's, pair[1] base's.
func PairRepetitions(c, base *Case) [][2]*Repetition {
	byIndex := make(map[int]*Repetition, len(base.Repetitions))
	for i := range base.Repetitions {
		byIndex[base.Repetitions[i].Index] = &base.Repetitions[i]
	}
	var pairs [][2]*Repetition
	for i := range c.Repetitions {
		if b, ok := byIndex[c.Repetitions[i].Index]; ok {
			pairs = append(pairs, [2]*Repetition{&c.Repetitions[i], b})
		}
	}
	return pairs
}

// OverheadRatios returns, per repetition paired by index, c's latency
// figure f over none's; pairs where none's figure is not positive are
// left out.
func OverheadRatios(c, none *Case, f LatencyField) []float64 {
	var xs []float64
	for _, p := range PairRepetitions(c, none) {
		if base := f(p[1].LatencyUS); base > 0 {
			xs = append(xs, f(p[0].LatencyUS)/base)
		}
	}
	return xs
}

// Point is a matrix point: cases at one point differ only in datapath.
type Point struct {
	Protocol      string
	Placement     string
	Services      int
	Rate          float64
	Connections   int
	RequestBytes  int
	ResponseBytes int
	// Enrol is set for enrolment cases, whose load ran through the
	// install: they compare with each other, not with steady cases.
	Enrol bool
}

// Point returns the matrix point of c.
func (c *Case) Point() Point {
	return Point{c.ProtocolName(), c.Placement, c.Services, c.Rate, c.Connections, c.RequestBytes, c.ResponseBytes, c.Enrolling()}
}

// Enrolling reports whether c is an enrolment case.
func (c *Case) Enrolling() bool { return c.EnrolAfterS > 0 }

// NoneFor returns the first successful floor case (none, unencrypted) at
// c's matrix point, or nil when there is none.
func (r *Run) NoneFor(c *Case) *Case {
	p := c.Point()
	for i := range r.Cases {
		n := &r.Cases[i]
		if n.Floor() && n.Status == "ok" && n.Point() == p {
			return n
		}
	}
	return nil
}

// EstimateOf summarises values: their median, the confidence interval of
// the median (see Estimate for its level) and their coefficient of
// variation. values is not modified. With no values, everything is zero.
func EstimateOf(values []float64) Estimate {
	n := len(values)
	if n == 0 {
		return Estimate{}
	}
	xs := slices.Clone(values)
	s := benchmath.NewSample(xs, &benchmath.DefaultThresholds) // sorts xs
	sum := benchmath.AssumeNothing.Summary(s, Confidence)
	e := Estimate{Median: sum.Center, Lo: sum.Lo, Hi: sum.Hi, Confidence: sum.Confidence, CV: cv(xs)}
	if math.IsInf(e.Lo, 0) || math.IsInf(e.Hi, 0) || math.IsNaN(e.Lo) || math.IsNaN(e.Hi) {
		// Too few values for a distribution-free 95% interval: report
		// their range at the level it has.
		e.Lo, e.Hi = xs[0], xs[n-1]
		e.Confidence = 0
		if n > 1 {
			e.Confidence = 1 - 2*math.Pow(0.5, float64(n))
		}
	}
	return e
}

// IntervalConfidence is the level of the interval EstimateOf reports for
// n values (see Estimate.Confidence).
func IntervalConfidence(n int) float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i)
	}
	return EstimateOf(xs).Confidence
}

// cv is the sample standard deviation of xs over their mean, or 0.
func cv(xs []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / n
	if mean == 0 {
		return 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss/(n-1)) / math.Abs(mean)
}
