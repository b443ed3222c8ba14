package bench

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// stepFunc measures a search step at rate: what its attack achieved,
// failed and took. The search judges it.
type stepFunc func(ctx context.Context, rate float64) (results.SearchStep, error)

// runSearch searches for the highest rate that meets the bounds b: up from
// s.From by s.Factor until a step fails or the top, the lower of s.To and
// ceiling (the load agent's, measured by none's search at this point; 0
// when not known), is reached, then s.Bisect bisections between the last passing and
// the first failing rate. The p99 bound is relative to the first step's
// p99. A search whose first step fails has HighestRPS 0 and says why; an
// error from step ends the search with it.
func runSearch(ctx context.Context, s *scenarios.Search, b scenarios.Bounds, ceiling float64, step stepFunc) (results.Search, error) {
	out := results.Search{MaxP99Ratio: b.MaxP99, MaxErrorRate: b.MaxErrors, MinAchievedFraction: b.MinAchieved}
	top, topName := s.To, fmt.Sprintf("the search's upper bound, to: %g req/s", s.To)
	if ceiling > 0 && ceiling < top {
		top, topName = ceiling, fmt.Sprintf("the load agent's ceiling, %g req/s (measured on none at this point)", ceiling)
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

// ceilingSearch is the none datapath's search. It first finds the load
// agent's ceiling, judging steps on achieved rate and errors alone: the
// highest rate the agents, the kernel and the echo servers carry without
// a mesh, whatever their latency. none's own highest rate, held to all
// three bounds, is then read from the same steps: the highest rate below
// which every step met them.
func ceilingSearch(ctx context.Context, s *scenarios.Search, step stepFunc) (results.Search, error) {
	b := s.Bounds()
	generator := b
	generator.MaxP99 = math.Inf(1)
	gen, err := runSearch(ctx, s, generator, 0, step)
	if err != nil || gen.HighestRPS == 0 {
		gen.MaxP99Ratio = b.MaxP99
		return gen, err
	}
	out := results.Search{MaxP99Ratio: b.MaxP99, MaxErrorRate: b.MaxErrors, MinAchievedFraction: b.MinAchieved,
		Steps: slices.Clone(gen.Steps), LoadAgentCeilingRPS: gen.HighestRPS, LoadAgentCeilingStopped: gen.Stopped}
	base := out.Steps[0].P99US
	for i := range out.Steps {
		out.Steps[i].Failure = judgeStep(out.Steps[i], b, base)
		out.Steps[i].Passed = out.Steps[i].Failure == ""
	}
	byRate := slices.SortedFunc(slices.Values(out.Steps), func(x, y results.SearchStep) int { return cmp.Compare(x.RateRPS, y.RateRPS) })
	out.HighestRPS, out.Stopped = gen.HighestRPS, gen.Stopped
	for i, st := range byRate {
		if !st.Passed {
			out.HighestRPS = 0
			if i > 0 {
				out.HighestRPS = byRate[i-1].RateRPS
			}
			out.Stopped = fmt.Sprintf("%g req/s failed: %s", st.RateRPS, st.Failure)
			break
		}
	}
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
// install: none's measures the load agent's ceiling too (ceilingSearch),
// and the other datapaths' stop at that ceiling when none's search at the
// same point already ran. It sets the case's rate to the highest that
// passed. A search whose lowest rate fails is the case's error.
func (r *Runner) search(ctx context.Context, cr *caseRun) error {
	key := searchKey(cr.c)
	var res results.Search
	var err error
	if cr.c.Datapath == results.NoneDatapath {
		res, err = ceilingSearch(ctx, cr.c.Search, r.searchStep(cr))
	} else {
		res, err = runSearch(ctx, cr.c.Search, cr.c.Search.Bounds(), r.ceilings[key], r.searchStep(cr))
	}
	cr.search = &res
	if err != nil {
		return fmt.Errorf("rate search: %w", err)
	}
	if res.HighestRPS == 0 {
		return fmt.Errorf("rate search: %s", res.Stopped)
	}
	if res.LoadAgentCeilingRPS > 0 {
		r.ceilings[key] = res.LoadAgentCeilingRPS
	}
	cr.c.Rate = res.HighestRPS
	return nil
}

// searchKey names a search case's point, apart from its datapath.
func searchKey(c scenarios.Case) string {
	_, point, _ := strings.Cut(c.ID, "/")
	return point
}
