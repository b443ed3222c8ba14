package bench

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/scenarios"
)

// fakePath is a path whose figures at a rate come from one function: a
// stepFunc without a cluster, to force each of the search's stops.
func fakePath(f func(rate float64) results.SearchStep) (stepFunc, *[]float64) {
	var rates []float64
	return func(_ context.Context, rate float64) (results.SearchStep, error) {
		rates = append(rates, rate)
		st := f(rate)
		st.RateRPS = rate
		return st, nil
	}, &rates
}

// healthy is a step that meets every bound, p99 1 ms.
func healthy(rate float64) results.SearchStep {
	return results.SearchStep{AchievedRPS: rate, AchievedFraction: 1, P50US: 500, P99US: 1000, Requests: uint64(rate)}
}

func TestRunSearch(t *testing.T) {
	search := &scenarios.Search{From: 1000, To: 64000, Factor: 2, Bisect: 2, MaxP99: "2x", MaxErrors: "0.1%", MinAchieved: "99%"}
	tests := []struct {
		name    string
		ceiling float64
		path    func(rate float64) results.SearchStep
		highest float64
		rates   []float64
		stopped string
	}{
		{
			name: "achieved falls short",
			path: func(rate float64) results.SearchStep {
				st := healthy(rate)
				if rate > 5000 {
					st.AchievedFraction = 0.9
				}
				return st
			},
			// 1000, 2000, 4000 pass, 8000 fails; bisect 6000 fails, 5000 passes.
			highest: 5000, rates: []float64{1000, 2000, 4000, 8000, 6000, 5000},
			stopped: "6000 req/s failed: achieved 90.0% of the rate, below 99%",
		},
		{
			name: "errors above the limit",
			path: func(rate float64) results.SearchStep {
				st := healthy(rate)
				if rate >= 3000 {
					st.ErrorRate = 0.002
				}
				return st
			},
			// bisect: 3000 fails, 2500 passes.
			highest: 2500, rates: []float64{1000, 2000, 4000, 3000, 2500},
			stopped: "3000 req/s failed: errors 0.2%, above 0.1%",
		},
		{
			name: "p99 above twice the lowest rate's",
			path: func(rate float64) results.SearchStep {
				st := healthy(rate)
				st.P99US = rate / 2 // 500µs at 1000 req/s: the bound is 1ms
				return st
			},
			highest: 2000, rates: []float64{1000, 2000, 4000, 3000, 2500},
			stopped: "2500 req/s failed: p99 1.25ms, above 2× the lowest rate's 500µs",
		},
		{
			name:    "lowest rate fails",
			path:    func(rate float64) results.SearchStep { st := healthy(rate); st.ErrorRate = 0.5; return st },
			highest: 0, rates: []float64{1000},
			stopped: "the lowest rate, 1000 req/s, already fails: errors 50%, above 0.1%",
		},
		{
			name:    "reaches the load agent's ceiling",
			ceiling: 3000,
			path:    healthy,
			highest: 3000, rates: []float64{1000, 2000, 3000},
			stopped: "reached the load agent's ceiling, 3000 req/s",
		},
		{
			name:    "reaches to",
			path:    healthy,
			highest: 64000, rates: []float64{1000, 2000, 4000, 8000, 16000, 32000, 64000},
			stopped: "reached the search's upper bound",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, rates := fakePath(tt.path)
			got, err := runSearch(t.Context(), search, search.Bounds(), tt.ceiling, step)
			if err != nil {
				t.Fatal(err)
			}
			if got.HighestRPS != tt.highest || !slices.Equal(*rates, tt.rates) || !strings.HasPrefix(got.Stopped, tt.stopped) {
				t.Errorf("highest %g after rates %v, stopped %q; want %g after %v, stopped %q…", got.HighestRPS, *rates, got.Stopped, tt.highest, tt.rates, tt.stopped)
			}
			if len(got.Steps) != len(tt.rates) || got.MaxP99Ratio != 2 || got.MaxErrorRate != 0.001 || got.MinAchievedFraction != 0.99 {
				t.Errorf("search %+v: want a step per rate and the bounds 2, 0.001, 0.99", got)
			}
			for _, st := range got.Steps {
				if st.Passed != (st.Failure == "") || st.Passed != (st.RateRPS <= tt.highest) {
					t.Errorf("step %+v: passed must mean no failure, and only up to %g", st, tt.highest)
				}
			}
		})
	}
}

func TestRunSearchStepError(t *testing.T) {
	boom := errors.New("load agent died")
	n := 0
	step := func(context.Context, float64) (results.SearchStep, error) {
		if n++; n == 3 {
			return results.SearchStep{}, boom
		}
		return healthy(1000), nil
	}
	search := &scenarios.Search{From: 1000, To: 8000, Factor: 2, MaxP99: "2x", MaxErrors: "0%", MinAchieved: "99%"}
	got, err := runSearch(t.Context(), search, search.Bounds(), 0, step)
	if !errors.Is(err, boom) || len(got.Steps) != 2 {
		t.Errorf("runSearch = %+v, %v; want the step's error after 2 steps", got, err)
	}
}

// none's search measures the load agent's ceiling on achieved rate and
// errors alone, past where its p99 breaks its own bound, and reads none's
// own highest rate from the same steps.
func TestCeilingSearch(t *testing.T) {
	search := &scenarios.Search{From: 1000, To: 64000, Factor: 2, Bisect: 1, MaxP99: "2x", MaxErrors: "0.1%", MinAchieved: "99%"}
	step, rates := fakePath(func(rate float64) results.SearchStep {
		st := healthy(rate)
		if rate >= 4000 {
			st.P99US = 5000 // 5× the lowest rate's
		}
		if rate > 16000 {
			st.AchievedFraction = 0.8 // the generator falls behind
		}
		return st
	})
	got, err := ceilingSearch(t.Context(), search, step)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1000, 2000, 4000, 8000, 16000, 32000, 24000}; !slices.Equal(*rates, want) {
		t.Errorf("rates %v, want %v", *rates, want)
	}
	if got.LoadAgentCeilingRPS != 16000 || !strings.HasPrefix(got.LoadAgentCeilingStopped, "24000 req/s failed: achieved 80.0%") {
		t.Errorf("ceiling %g (%s), want 16000, stopped by the achieved rate at 24000", got.LoadAgentCeilingRPS, got.LoadAgentCeilingStopped)
	}
	if got.HighestRPS != 2000 || !strings.HasPrefix(got.Stopped, "4000 req/s failed: p99 5.00ms, above 2× the lowest rate's 1.00ms") || got.MaxP99Ratio != 2 {
		t.Errorf("none's highest %g (%s), p99 bound %g; want 2000, stopped by p99 at 4000, 2", got.HighestRPS, got.Stopped, got.MaxP99Ratio)
	}
	for _, st := range got.Steps {
		if st.Passed != (st.RateRPS <= 2000) {
			t.Errorf("step %+v: want judged on all three bounds", st)
		}
	}
}
