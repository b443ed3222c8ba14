package scenarios

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Search is load.search: instead of the rates, each case searches for the
// highest rate its datapath sustains. It steps up from From, multiplying
// the rate by Factor, until a step fails or To is reached, then bisects
// Bisect times between the last passing rate and the first failing one. A
// step passes when it achieved at least MinAchieved of its rate, its
// errors stay at or below MaxErrors, and its p99 stays at or below MaxP99
// times the p99 of the lowest rate. Every step runs for load.duration.
type Search struct {
	From   float64 `yaml:"from"`
	To     float64 `yaml:"to"`
	Factor float64 `yaml:"factor"`
	Bisect int     `yaml:"bisect"`
	// MaxP99 is a ratio such as "2x"; MaxErrors and MinAchieved are
	// percentages such as "0.1%" and "99%".
	MaxP99      string `yaml:"maxP99"`
	MaxErrors   string `yaml:"maxErrors"`
	MinAchieved string `yaml:"minAchieved"`
}

// Defaults of load.search's fields.
const (
	DefaultSearchFrom        = 1000
	DefaultSearchTo          = MaxRate
	DefaultSearchFactor      = 2
	DefaultSearchBisect      = 3
	DefaultSearchMaxP99      = "2x"
	DefaultSearchMaxErrors   = "0.1%"
	DefaultSearchMinAchieved = "99%"
)

// Bounds of load.search's fields; see doc.go.
const (
	MinSearchFactor = 1.1
	MaxSearchFactor = 16
	MaxSearchBisect = 10
	MinSearchP99    = 1
	MaxSearchP99    = 100
	MinAchievedLow  = 50
)

// Bounds are a search's limits as numbers: MaxP99 a ratio, MaxErrors and
// MinAchieved fractions (0.001 is 0.1%).
type Bounds struct {
	MaxP99, MaxErrors, MinAchieved float64
}

// Bounds parses s's limits; Validate has checked them.
func (s *Search) Bounds() Bounds {
	p99, _ := parseRatio(s.MaxP99)
	errs, _ := parsePercent(s.MaxErrors)
	ach, _ := parsePercent(s.MinAchieved)
	return Bounds{MaxP99: p99, MaxErrors: errs, MinAchieved: ach}
}

func setSearchDefaults(d defaulter, s *Search) {
	num := func(v *float64, field string, def float64) {
		if *v == 0 && !d.src.has(field) {
			*v = def
		}
	}
	num(&s.From, "load.search.from", DefaultSearchFrom)
	num(&s.To, "load.search.to", DefaultSearchTo)
	num(&s.Factor, "load.search.factor", DefaultSearchFactor)
	d.int(&s.Bisect, "load.search.bisect", DefaultSearchBisect)
	d.str(&s.MaxP99, "load.search.maxP99", DefaultSearchMaxP99)
	d.str(&s.MaxErrors, "load.search.maxErrors", DefaultSearchMaxErrors)
	d.str(&s.MinAchieved, "load.search.minAchieved", DefaultSearchMinAchieved)
}

func validateSearch(p *problems, l *Traffic) {
	s := l.Search
	if s == nil {
		return
	}
	if slices.Contains(l.Protocols, Stream) {
		p.add("load.search", "a stream has no rate to search; remove stream from load.protocol or remove load.search")
	}
	rate := func(field string, v float64) {
		if v < MinRate || v > MaxRate {
			p.add(field, "rate %g is outside the allowed range %d to %d requests per second", v, MinRate, MaxRate)
		}
	}
	rate("load.search.from", s.From)
	rate("load.search.to", s.To)
	if s.From >= s.To {
		p.add("load.search.to", "%g is not above from (%g); the search needs room to climb", s.To, s.From)
	}
	if s.Factor < MinSearchFactor || s.Factor > MaxSearchFactor {
		p.add("load.search.factor", "%g is outside the allowed range %g to %d; each step multiplies the rate by it", s.Factor, MinSearchFactor, MaxSearchFactor)
	}
	if s.Bisect < 0 || s.Bisect > MaxSearchBisect {
		p.add("load.search.bisect", "%d is outside the allowed range 0 to %d", s.Bisect, MaxSearchBisect)
	}
	if r, err := parseRatio(s.MaxP99); err != nil || r < MinSearchP99 || r > MaxSearchP99 {
		p.add("load.search.maxP99", "%q is not a ratio from %dx to %dx of the lowest rate's p99, such as 2x", s.MaxP99, MinSearchP99, MaxSearchP99)
	}
	if f, err := parsePercent(s.MaxErrors); err != nil || f > 1 {
		p.add("load.search.maxErrors", "%q is not a percentage from 0%% to 100%%, such as 0.1%%", s.MaxErrors)
	}
	if f, err := parsePercent(s.MinAchieved); err != nil || f < MinAchievedLow/100.0 || f > 1 {
		p.add("load.search.minAchieved", "%q is not a percentage from %d%% to 100%%, such as 99%%", s.MinAchieved, MinAchievedLow)
	}
}

// parseRatio reads "2x" (or "2×").
func parseRatio(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "x")
	if !ok {
		num, ok = strings.CutSuffix(s, "×")
	}
	if !ok {
		return 0, fmt.Errorf("%q has no x", s)
	}
	return parseNonNegative(num)
}

// parsePercent reads "0.1%" as 0.001.
func parsePercent(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("%q has no %%", s)
	}
	v, err := parseNonNegative(num)
	return v / 100, err
}

func parseNonNegative(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("%q is not a number ≥ 0", s)
	}
	return v, nil
}
