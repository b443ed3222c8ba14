package bench

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// stepFunc measures a search step at rate: what its attack achieved,
// failed and took. The search judges it.
type stepFunc func(ctx context.Context, rate float64) (results.SearchStep, error)

// runSearch searches for the highest rate that meets s's bounds: up from
// s.From by s.Factor until a step fails or the top, the lower of s.To and
// ceiling (the load agent's, none's highest at this point; 0 when not
// known), is reached, then s.Bisect bisections between the last passing and
// the first failing rate. The p99 bound is relative to the first step's
// p99. A search whose first step fails has HighestRPS 0 and says why; an
// error from step ends the search with it.
func runSearch(ctx context.Context, s *scenarios.Search, ceiling float64, step stepFunc) (results.Search, error) {
	b := s.Bounds()
	out := results.Search{MaxP99Ratio: b.MaxP99, MaxErrorRate: b.MaxErrors, MinAchievedFraction: b.MinAchieved}
	top, topName := s.To, fmt.Sprintf("the search's upper bound, to: %g req/s", s.To)
	if ceiling > 0 && ceiling < top {
		top, topName = ceiling, fmt.Sprintf("the load agent's ceiling, %g req/s (none's highest at this point)", ceiling)
	}
	var baseP99 float64
	measure := func(rate float64) (bool, error) {
		st, err := step(ctx, rate)
		if err != nil {
			return false, err
		}
		if len(out.Steps) == 0 {
			baseP99 = st.P99US
		}
		st.Failure = judgeStep(st, b, baseP99)
		st.Passed = st.Failure == ""
		out.Steps = append(out.Steps, st)
		return st.Passed, nil
	}
	lo := math.Min(s.From, top)
	ok, err := measure(lo)
	if err != nil {
		return out, err
	}
	if !ok {
		out.Stopped = fmt.Sprintf("the lowest rate, %g req/s, already fails: %s", lo, out.Steps[0].Failure)
		return out, nil
	}
	hi := 0.0 // the lowest failing rate; 0 while none failed
	for hi == 0 && lo < top {
		next := math.Min(math.Round(lo*s.Factor), top)
		if ok, err = measure(next); err != nil {
			return out, err
		}
		if ok {
			lo = next
		} else {
			hi = next
		}
	}
	if hi == 0 {
		out.HighestRPS, out.Stopped = lo, "reached "+topName+" without failing"
		return out, nil
	}
	failure := out.Steps[len(out.Steps)-1].Failure
	for range s.Bisect {
		mid := math.Round((lo + hi) / 2)
		if mid <= lo || mid >= hi {
			break // within a request per second
		}
		if ok, err = measure(mid); err != nil {
			return out, err
		}
		if ok {
			lo = mid
		} else {
			hi, failure = mid, out.Steps[len(out.Steps)-1].Failure
		}
	}
	out.HighestRPS = lo
	out.Stopped = fmt.Sprintf("%g req/s failed: %s", hi, failure)
	return out, nil
}

// judgeStep says which of b's bounds st failed, "" when it met them all;
// baseP99 is the lowest rate's p99.
func judgeStep(st results.SearchStep, b scenarios.Bounds, baseP99 float64) string {
	var why []string
	if st.AchievedFraction < b.MinAchieved {
		why = append(why, fmt.Sprintf("achieved %.1f%% of the rate, below %.4g%%", 100*st.AchievedFraction, 100*b.MinAchieved))
	}
	if st.ErrorRate > b.MaxErrors {
		why = append(why, fmt.Sprintf("errors %.3g%%, above %.4g%%", 100*st.ErrorRate, 100*b.MaxErrors))
	}
	if st.P99US > b.MaxP99*baseP99 {
		why = append(why, fmt.Sprintf("p99 %s, above %g× the lowest rate's %s", results.FormatMicros(st.P99US), b.MaxP99, results.FormatMicros(baseP99)))
	}
	return strings.Join(why, "; ")
}

// searchStep is a stepFunc of the case cr: one attack at rate for the
// case's duration, summarised as a repetition is. An attack in which no
// request succeeded is a failing step, not an error: a rate can be past
// what the path carries.
func (r *Runner) searchStep(cr *caseRun) stepFunc {
	return func(ctx context.Context, rate float64) (results.SearchStep, error) {
		cr.c.Rate = rate
		r.opts.Status.Start(fmt.Sprintf("Searching: %g req/s for %s", rate, cr.c.Duration))
		st := results.SearchStep{RateRPS: rate}
		samples, planned, err := r.attack(ctx, cr, "search", cr.c.Duration)
		if err != nil {
			if ctx.Err() != nil {
				return st, err
			}
			st.ErrorRate = 1
			return st, nil
		}
		rep, err := results.Summarize(samples, results.Plan{Requests: planned, Duration: cr.c.Duration})
		if err != nil {
			return st, fmt.Errorf("search step at %g req/s: %w", rate, err)
		}
		st.AchievedRPS, st.AchievedFraction, st.ErrorRate = rep.AchievedRPS, rep.AchievedRPS/rate, rep.ErrorRate
		st.P50US, st.P99US, st.Requests = rep.LatencyUS.P50, rep.LatencyUS.P99, rep.Requests
		return st, nil
	}
}

// search runs cr's rate search inside its case, on its cluster and
// install, capped at the load agent's ceiling when none's search at the
// same point already ran; it sets the case's rate to the highest that
// passed. A search whose lowest rate fails is the case's error.
func (r *Runner) search(ctx context.Context, cr *caseRun) error {
	key := searchKey(cr.c)
	res, err := runSearch(ctx, cr.c.Search, r.ceilings[key], r.searchStep(cr))
	cr.search = &res
	if err != nil {
		return fmt.Errorf("rate search: %w", err)
	}
	if res.HighestRPS == 0 {
		return fmt.Errorf("rate search: %s", res.Stopped)
	}
	if cr.c.Datapath == results.NoneDatapath {
		r.ceilings[key] = res.HighestRPS
	}
	cr.c.Rate = res.HighestRPS
	return nil
}

// searchKey names a search case's point, apart from its datapath.
func searchKey(c scenarios.Case) string {
	_, point, _ := strings.Cut(c.ID, "/")
	return point
}
