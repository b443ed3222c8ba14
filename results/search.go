package results

// Search is a search case's rate search (load.search): the steps it
// measured, and the highest rate that met all three bounds. Its
// latencies, costs and repetitions are then measured at that rate.
type Search struct {
	// The bounds every step was held to: p99 at most MaxP99Ratio times the
	// lowest rate's, at most MaxErrorRate of requests failed, at least
	// MinAchievedFraction of the rate achieved.
	MaxP99Ratio         float64 `json:"max_p99_ratio"`
	MaxErrorRate        float64 `json:"max_error_rate"`
	MinAchievedFraction float64 `json:"min_achieved_fraction"`
	// Steps are in the order they ran: up by the factor, then bisection.
	Steps []SearchStep `json:"steps"`
	// HighestRPS is the highest rate that met all three bounds; 0 when the
	// lowest rate already failed.
	HighestRPS float64 `json:"highest_rps"`
	// Stopped says why the search stopped: the failure of the lowest
	// failing rate, or that it reached its upper bound or the load agent's
	// ceiling.
	Stopped string `json:"stopped"`
	// LoadAgentCeilingRPS is the load agent's ceiling at this point, which
	// the none datapath's search measures: the highest rate at which the
	// load agents, the kernel and the echo servers achieved the rate
	// without errors beyond the bound, without a mesh and whatever the
	// latency. Absent when the point has no successful none search.
	LoadAgentCeilingRPS float64 `json:"load_agent_ceiling_rps,omitempty"`
	// LoadAgentCeilingStopped says, in none's search, why the ceiling is
	// where it is.
	LoadAgentCeilingStopped string `json:"load_agent_ceiling_stopped,omitempty"`
	// AtCeiling is set for a datapath other than none that sustained the
	// load agent's ceiling: its HighestRPS is the generator's limit, and
	// the datapath's own is at least that, not known.
	AtCeiling bool `json:"at_load_agent_ceiling,omitempty"`
}

// SearchStep is one rate a search measured, for load.duration.
type SearchStep struct {
	RateRPS          float64 `json:"rate_rps"`
	AchievedRPS      float64 `json:"achieved_rps"`
	AchievedFraction float64 `json:"achieved_fraction"`
	ErrorRate        float64 `json:"error_rate"`
	// P50US and P99US are from each request's intended send time.
	P50US    float64 `json:"p50_us"`
	P99US    float64 `json:"p99_us"`
	Requests uint64  `json:"requests"`
	// Passed is set when the step met all three bounds; Failure says which
	// it did not meet otherwise.
	Passed  bool   `json:"passed"`
	Failure string `json:"failure,omitempty"`
}

// judgeSearches sets every search case's LoadAgentCeilingRPS and
// AtCeiling from the none search at its point, which measured it.
func judgeSearches(run *Run) {
	for i := range run.Cases {
		c := &run.Cases[i]
		if c.Search == nil {
			continue
		}
		if c.Datapath == NoneDatapath {
			continue // none's search measured the ceiling
		}
		c.Search.LoadAgentCeilingRPS, c.Search.AtCeiling = 0, false
		none := run.NoneFor(c)
		if none == nil || none.Search == nil || none.Search.LoadAgentCeilingRPS == 0 {
			continue
		}
		ceiling := none.Search.LoadAgentCeilingRPS
		c.Search.LoadAgentCeilingRPS = ceiling
		c.Search.AtCeiling = c.Search.HighestRPS >= ceiling
	}
}
