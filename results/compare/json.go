package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// String names the kind as the JSON output does: sampled, exact, single.
func (k Kind) String() string {
	switch k {
	case Exact:
		return "exact"
	case Single:
		return "single"
	}
	return "sampled"
}

type jsonRun struct {
	ID       string `json:"id"`
	Scenario string `json:"scenario"`
	Cases    int    `json:"cases"`
}

type jsonRow struct {
	Case       string  `json:"case"`
	Metric     string  `json:"metric"`
	Kind       string  `json:"kind"`
	Unit       string  `json:"unit"`
	Base       float64 `json:"base"`
	Candidate  float64 `json:"candidate"`
	BaseN      int     `json:"base_n"`
	CandidateN int     `json:"candidate_n"`
	// Delta is null when the base is 0 and the candidate is not.
	Delta   *float64 `json:"delta"`
	P       *float64 `json:"p"`
	Verdict Verdict  `json:"verdict"`
}

type jsonFailed struct {
	Case           string `json:"case"`
	Base           string `json:"base"`
	Candidate      string `json:"candidate"`
	BaseError      string `json:"base_error,omitempty"`
	CandidateError string `json:"candidate_error,omitempty"`
}

type jsonMissing struct {
	Case   string `json:"case"`
	Metric string `json:"metric"`
	// In is the run that has the figure: base or candidate.
	In    string `json:"in"`
	Value string `json:"value"`
}

type jsonReport struct {
	Base            jsonRun       `json:"base"`
	Candidate       jsonRun       `json:"candidate"`
	Rows            []jsonRow     `json:"rows"`
	Failed          []jsonFailed  `json:"failed"`
	Missing         []jsonMissing `json:"missing"`
	OnlyInBase      []string      `json:"only_in_base"`
	OnlyInCandidate []string      `json:"only_in_candidate"`
	Notes           []string      `json:"notes"`
}

// finite returns &v, or nil for NaN and ±Inf, which JSON cannot hold.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// nonNil makes an absent list an empty one, so that JSON readers find
// every key.
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func (r *Report) jsonReport() jsonReport {
	out := jsonReport{
		Base:            jsonRun{r.Base.ID, r.Base.Scenario, len(r.Base.Cases)},
		Candidate:       jsonRun{r.Candidate.ID, r.Candidate.Scenario, len(r.Candidate.Cases)},
		Rows:            []jsonRow{},
		Failed:          []jsonFailed{},
		Missing:         []jsonMissing{},
		OnlyInBase:      nonNil(r.OnlyBase),
		OnlyInCandidate: nonNil(r.OnlyCandidate),
		Notes:           nonNil(r.Notes),
	}
	for _, row := range r.Rows {
		out.Rows = append(out.Rows, jsonRow{
			Case: row.Case, Metric: row.Metric, Kind: row.Kind.String(), Unit: row.m.unit,
			Base: row.Base, Candidate: row.Candidate, BaseN: row.BaseN, CandidateN: row.CandidateN,
			Delta: finite(row.Delta), P: finite(row.P), Verdict: row.Verdict,
		})
	}
	for _, f := range r.Failed {
		out.Failed = append(out.Failed, jsonFailed{f.Case, f.Base, f.Candidate, f.BaseErr, f.CandidateErr})
	}
	for _, m := range r.Missing {
		out.Missing = append(out.Missing, jsonMissing{m.Case, m.Metric, side(m.InBase)[len("the "):], m.Value})
	}
	return out
}

// WriteJSON writes the comparison as one JSON object: the runs, one row
// per case and figure (values in the metric's unit, delta as a fraction,
// null where no number applies), the failed cases, the missing figures,
// the cases left out and the notes.
func (r *Report) WriteJSON(w io.Writer) error {
	return writeJSON(w, r.jsonReport())
}

type jsonViolation struct {
	Case   string `json:"case"`
	Metric string `json:"metric"`
	Reason string `json:"reason"`
}

type jsonWarning struct {
	Message string   `json:"message"`
	Cases   []string `json:"cases"`
}

type jsonGate struct {
	OK         bool              `json:"ok"`
	Cases      int               `json:"cases"`
	Limits     map[string]string `json:"limits"`
	Violations []jsonViolation   `json:"violations"`
	Warnings   []jsonWarning     `json:"warnings"`
	Comparison jsonReport        `json:"comparison"`
}

// WriteJSON writes the gate's verdict as one JSON object: ok, the number
// of cases gated, the limits (metric: limit, in ParseLimits' syntax), the
// violations, the warnings with the cases each applies to, and the
// comparison r it judged, as Report.WriteJSON writes it.
func (g *GateResult) WriteJSON(w io.Writer, r *Report) error {
	out := jsonGate{
		OK: g.OK(), Cases: g.Cases, Limits: map[string]string{},
		Violations: []jsonViolation{}, Warnings: []jsonWarning{},
		Comparison: r.jsonReport(),
	}
	for name, l := range g.Limits {
		out.Limits[name] = l.Value()
	}
	for _, v := range g.Violations {
		out.Violations = append(out.Violations, jsonViolation{v.Case, v.Metric, v.Reason})
	}
	for _, wn := range g.Warnings {
		out.Warnings = append(out.Warnings, jsonWarning{wn.Message, nonNil(wn.Cases)})
	}
	return writeJSON(w, out)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
