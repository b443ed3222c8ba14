package compare

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/resultstest"
)

func mustCompare(tb testing.TB, base, cand *results.Run) *Report {
	tb.Helper()
	r, err := Compare(base, cand)
	if err != nil {
		tb.Fatalf("Compare: %v", err)
	}
	return r
}

func mustLimits(tb testing.TB, s string) Limits {
	tb.Helper()
	l, err := ParseLimits(s)
	if err != nil {
		tb.Fatalf("ParseLimits(%q): %v", s, err)
	}
	return l
}

func TestCompareWithItself(t *testing.T) {
	run := resultstest.Run(t, resultstest.Options{})
	r := mustCompare(t, run, run)
	if len(r.Failed) != 0 || len(r.Notes) != 0 {
		t.Errorf("Failed = %v, Notes = %v, want none", r.Failed, r.Notes)
	}
	metrics := map[string]bool{}
	for _, row := range r.Rows {
		metrics[row.Metric] = true
		if row.Verdict != NoChange || row.Delta != 0 {
			t.Errorf("%s %s: verdict %q, delta %v, want %q and 0", row.Case, row.Metric, row.Verdict, row.Delta, NoChange)
		}
	}
	for _, m := range []string{"p50", "p99", "p999", "p99_overhead", "rps", "errors", "hops", "proxies", "memory", "cpu"} {
		if !metrics[m] {
			t.Errorf("no row for metric %s", m)
		}
	}
	var out bytes.Buffer
	if err := r.Write(&out); err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, bad := range []string{string(Worse), string(Better), string(TooNoisy)} {
		if strings.Contains(out.String(), bad) {
			t.Errorf("report of a run against itself mentions %q:\n%s", bad, out.String())
		}
	}
	g := Gate(r, mustLimits(t, DefaultLimits))
	if !g.OK() || len(g.Warnings) != 0 {
		t.Errorf("Gate of a run against itself: violations %v, warnings %v", g.Violations, g.Warnings)
	}
}

// doctor doubles p99 in every repetition of the cases selected and adds one
// hop to their packet path.
func doctor(run *results.Run, selected func(*results.Case) bool) {
	for i := range run.Cases {
		c := &run.Cases[i]
		if !selected(c) {
			continue
		}
		for j := range c.Repetitions {
			c.Repetitions[j].LatencyUS.P99 *= 2
		}
		c.LatencyUS.P99 *= 2
		c.Path.HopsPerRequest++
	}
}

func TestGateDoctoredCandidate(t *testing.T) {
	base := resultstest.Run(t, resultstest.Options{})
	mesh := func(c *results.Case) bool { return c.Datapath != results.NoneDatapath }
	every := func(*results.Case) bool { return true }
	tests := []struct {
		name      string
		doctored  func(*results.Case) bool
		limits    string
		wantFail  []string // metrics that must fail for every doctored case
		wantWarn  string
		wantClean []string // metrics that must not fail
	}{
		{"mesh datapaths slower", mesh, DefaultLimits, []string{"p99_overhead", "hops"}, "", nil},
		{"every datapath slower", every, DefaultLimits, []string{"hops"}, "p99=N% gates it", []string{"p99_overhead"}},
		{"every datapath slower, absolute gate", every, DefaultLimits + ",p99=10%", []string{"p99", "hops"}, "", nil},
		{"hops off", mesh, "hops=off", []string{"p99_overhead"}, "", []string{"hops"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cand := resultstest.Run(t, resultstest.Options{})
			doctor(cand, tt.doctored)
			limits := mustLimits(t, DefaultLimits).Apply(mustLimits(t, tt.limits))
			g := Gate(mustCompare(t, base, cand), limits)
			failed := map[string]int{}
			for _, v := range g.Violations {
				failed[v.Metric]++
			}
			doctored := 0
			for i := range cand.Cases {
				if tt.doctored(&cand.Cases[i]) {
					doctored++
				}
			}
			for _, m := range tt.wantFail {
				if failed[m] != doctored {
					t.Errorf("%d violations of %s, want %d (one per doctored case); all: %v", failed[m], m, doctored, g.Violations)
				}
			}
			for _, m := range tt.wantClean {
				if failed[m] != 0 {
					t.Errorf("%d violations of %s, want none", failed[m], m)
				}
			}
			var out bytes.Buffer
			if err := g.Write(&out); err != nil {
				t.Fatalf("Write: %v", err)
			}
			for _, m := range tt.wantFail {
				if !strings.Contains(out.String(), "REGRESSION") || !strings.Contains(out.String(), " "+m+" ") {
					t.Errorf("gate output does not name %s:\n%s", m, out.String())
				}
			}
			if tt.wantWarn != "" && !strings.Contains(out.String(), tt.wantWarn) {
				t.Errorf("gate output lacks warning %q:\n%s", tt.wantWarn, out.String())
			}
		})
	}
}

func TestCompareNotesEditedSummary(t *testing.T) {
	base := resultstest.Run(t, resultstest.Options{})
	cand := resultstest.Run(t, resultstest.Options{})
	cand.Cases[2].LatencyUS.P99 *= 2 // the summary only, not the repetitions
	cand.Environment.CPUModel = "Other CPU"
	cand.Cases[3].Path = nil // the probe did not run
	r := mustCompare(t, base, cand)
	want := []string{
		"the runs come from different machines (CPU)",
		"candidate: latency_us disagrees with the repetitions (compared instead) in 1 case",
	}
	if len(r.Notes) != len(want) {
		t.Fatalf("notes %q, want %d", r.Notes, len(want))
	}
	for i, w := range want {
		if !strings.Contains(r.Notes[i], w) {
			t.Errorf("note %q does not contain %q", r.Notes[i], w)
		}
	}
	if g := Gate(r, mustLimits(t, DefaultLimits).Apply(mustLimits(t, "hops=off"))); !g.OK() || len(g.Warnings) != len(want)+1 {
		t.Errorf("gate: violations %v, warnings %q; want none and the notes and the missing hops", g.Violations, g.Warnings)
	}
}

// nullFigures removes what a probe measures from every case: the packet
// path (hops) and the per-node costs (proxies, memory, cpu).
func nullFigures(run *results.Run) {
	for i := range run.Cases {
		run.Cases[i].Path = nil
		run.Cases[i].NodeCosts = nil
	}
}

func TestGateMissingFigures(t *testing.T) {
	full := func() *results.Run { return resultstest.Run(t, resultstest.Options{}) }
	nulled := func() *results.Run { r := full(); nullFigures(r); return r }
	tests := []struct {
		name       string
		base, cand func() *results.Run
		limits     string
		wantFail   []string // metrics that fail for every case
		wantOK     bool
		wantOutput []string
	}{
		{"nulled candidate", full, nulled, "", []string{"hops", "proxies", "memory", "cpu"}, false,
			[]string{"hops: missing in candidate (baseline 4)", "regressions in 8 cases"}},
		{"nulled candidate, metrics off", full, nulled, "hops=off,proxies=off,memory=off,cpu=off", nil, true,
			[]string{"hops missing in candidate, not gated (hops=off): 8 cases of 4 datapaths", "gate: ok"}},
		{"nulled candidate, hops off", full, nulled, "hops=off", []string{"proxies", "memory", "cpu"}, false, nil},
		{"nulled base", nulled, full, "", nil, true, []string{"hops missing in base, not compared: 8 cases of 4 datapaths", "gate: ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, cand := tt.base(), tt.cand()
			g := Gate(mustCompare(t, base, cand), mustLimits(t, DefaultLimits).Apply(mustLimits(t, tt.limits)))
			if g.OK() != tt.wantOK {
				t.Errorf("OK() = %v, want %v; violations %v", g.OK(), tt.wantOK, g.Violations)
			}
			failed := map[string]int{}
			for _, v := range g.Violations {
				failed[v.Metric]++
			}
			want := map[string]int{}
			for _, m := range tt.wantFail {
				want[m] = len(cand.Cases)
			}
			for _, m := range []string{"hops", "proxies", "memory", "cpu"} {
				if failed[m] != want[m] {
					t.Errorf("%d violations of %s, want %d", failed[m], m, want[m])
				}
			}
			var out bytes.Buffer
			if err := g.Write(&out); err != nil {
				t.Fatalf("Write: %v", err)
			}
			for _, w := range tt.wantOutput {
				if !strings.Contains(out.String(), w) {
					t.Errorf("gate output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestGateWrite(t *testing.T) {
	row := Row{Case: "c", Metric: "hops", Kind: Exact, Base: 6, Candidate: 6.04, m: metricByName("hops")}
	row.Delta = relChange(row.Base, row.Candidate)
	if got := change(&row); strings.Contains(got, "999") || !strings.Contains(got, "+0.04,") {
		t.Errorf("change = %q, want a rounded difference +0.04", got)
	}
	tests := []struct {
		n    int
		want string
	}{{1, "gate: 1 regression in"}, {2, "gate: 2 regressions in"}}
	for _, tt := range tests {
		g := &GateResult{Cases: 3, Violations: make([]Violation, tt.n)}
		var out bytes.Buffer
		if err := g.Write(&out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("%d violations: output %q lacks %q", tt.n, out.String(), tt.want)
		}
	}
}

func TestGateFailedCase(t *testing.T) {
	base := resultstest.Run(t, resultstest.Options{})
	cand := resultstest.Run(t, resultstest.Options{})
	c := &cand.Cases[3]
	c.Status, c.Error = "failed", "verify datapath: redirect counter stayed at 0"
	g := Gate(mustCompare(t, base, cand), Limits{})
	if len(g.Violations) != 1 || g.Violations[0].Metric != "status" || g.Violations[0].Case != c.ID {
		t.Fatalf("violations %v, want one status violation for %s", g.Violations, c.ID)
	}
	if !strings.Contains(g.Violations[0].Reason, c.Error) {
		t.Errorf("reason %q does not carry the case's error", g.Violations[0].Reason)
	}
	// The other way round, a case that starts working is no regression.
	if g := Gate(mustCompare(t, cand, base), Limits{}); !g.OK() {
		t.Errorf("a fixed case fails the gate: %v", g.Violations)
	}
}

func TestCompareOverlap(t *testing.T) {
	base := resultstest.Run(t, resultstest.Options{})
	tests := []struct {
		name               string
		cand               func() *results.Run
		onlyBase, onlyCand int
		wantLeftOut        []string
	}{
		{"case missing", func() *results.Run {
			r := resultstest.Run(t, resultstest.Options{})
			r.Cases = r.Cases[1:]
			return r
		}, 1, 0, []string{"1 case (none) only in base, not compared"}},
		{"one datapath rerun", func() *results.Run {
			return resultstest.Run(t, resultstest.Options{Datapaths: []string{"nodeproxy"}})
		}, 6, 0, []string{"6 cases of 3 datapaths only in base, not compared"}},
		{"wider candidate", func() *results.Run {
			return resultstest.Run(t, resultstest.Options{Rates: []float64{1000, 500}})
		}, 0, 8, []string{"8 cases of 4 datapaths only in candidate, not compared"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cand := tt.cand()
			r := mustCompare(t, base, cand)
			if len(r.OnlyBase) != tt.onlyBase || len(r.OnlyCandidate) != tt.onlyCand {
				t.Errorf("only in base %v, only in candidate %v; want %d and %d", r.OnlyBase, r.OnlyCandidate, tt.onlyBase, tt.onlyCand)
			}
			compared := map[string]bool{}
			for _, row := range r.Rows {
				compared[row.Case] = true
			}
			if want := len(base.Cases) - tt.onlyBase; len(compared) != want {
				t.Errorf("%d cases compared, want %d", len(compared), want)
			}
			if got := r.leftOut(); !slices.Equal(got, tt.wantLeftOut) {
				t.Errorf("left out %q, want %q", got, tt.wantLeftOut)
			}
			if len(r.Notes) != 0 {
				t.Errorf("notes %q, want none: a subset differs in its matrix only", r.Notes)
			}
			g := Gate(r, mustLimits(t, DefaultLimits))
			if !g.OK() {
				t.Errorf("gate of an unchanged subset: violations %v", g.Violations)
			}
			if g.Cases != len(compared) {
				t.Errorf("gate counts %d cases, want the %d compared", g.Cases, len(compared))
			}
		})
	}
}

// TestGateOneDatapathRerun gates a rerun of one datapath, without none,
// against a full run: the overheads cannot be computed, which is a warning
// and not a regression, while hops are still gated.
func TestGateOneDatapathRerun(t *testing.T) {
	base := resultstest.Run(t, resultstest.Options{})
	cand := resultstest.Run(t, resultstest.Options{Datapaths: []string{"nodeproxy"}})
	g := Gate(mustCompare(t, base, cand), mustLimits(t, DefaultLimits))
	if !g.OK() {
		t.Fatalf("violations %v, want none", g.Violations)
	}
	want := "p99_overhead not gated: candidate lacks none at this point: 2 cases (nodeproxy 2)"
	if !slices.ContainsFunc(g.Warnings, func(w Warning) bool { return w.String() == want }) {
		t.Errorf("warnings %q lack %q", g.Warnings, want)
	}
	doctor(cand, func(*results.Case) bool { return true })
	g = Gate(mustCompare(t, base, cand), mustLimits(t, DefaultLimits))
	if len(g.Violations) != 2 || g.Violations[0].Metric != "hops" {
		t.Errorf("violations %v, want hops in both nodeproxy cases", g.Violations)
	}
}

func TestCompareNoOverlap(t *testing.T) {
	base := resultstest.Run(t, resultstest.Options{})
	tests := []struct {
		name string
		cand func() *results.Run
	}{
		{"other matrix", func() *results.Run {
			return resultstest.Run(t, resultstest.Options{Rates: []float64{500}})
		}},
		{"no cases", func() *results.Run {
			r := resultstest.Run(t, resultstest.Options{})
			r.Cases = []results.Case{}
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compare(base, tt.cand())
			if !errors.Is(err, ErrNoOverlap) {
				t.Fatalf("Compare error = %v, want ErrNoOverlap", err)
			}
			if !strings.Contains(err.Error(), "8 cases") {
				t.Errorf("error %q does not say how many cases the base has", err)
			}
		})
	}
	dup := resultstest.Run(t, resultstest.Options{})
	dup.Cases = append(dup.Cases, dup.Cases[0])
	if _, err := Compare(base, dup); err == nil || !strings.Contains(err.Error(), "appears twice in the candidate run") {
		t.Errorf("Compare with a duplicated case: %v, want an error naming it", err)
	}
}

func TestCompareFigure(t *testing.T) {
	p99 := metricByName("p99")
	rps := metricByName("rps")
	tests := []struct {
		name       string
		m          *metric
		base, cand []float64
		want       Verdict
	}{
		{"identical", p99, []float64{100, 104, 97}, []float64{100, 104, 97}, NoChange},
		{"doubled", p99, []float64{100, 104, 97}, []float64{200, 208, 194}, Worse},
		{"halved", p99, []float64{100, 104, 97}, []float64{50, 52, 48.5}, Better},
		{"small shift within noise", p99, []float64{100, 110, 90}, []float64{102, 111, 93}, NoChange},
		{"large shift, huge noise", p99, []float64{100, 300, 50}, []float64{150, 400, 60}, TooNoisy},
		{"one repetition, changed", p99, []float64{100}, []float64{120}, TooNoisy},
		{"one repetition, same", p99, []float64{100}, []float64{100}, NoChange},
		{"higher rate is better", rps, []float64{900, 905, 898}, []float64{1000, 999, 1001}, Better},
		{"constant, different", metricByName("errors"), []float64{0, 0, 0}, []float64{2, 2, 2}, Worse},
		{"constant, zero", metricByName("errors"), []float64{0, 0, 0}, []float64{0, 0, 0}, NoChange},
		{"hop added", metricByName("hops"), []float64{9}, []float64{10}, Worse},
		{"memory within noise", metricByName("memory"), []float64{100}, []float64{104}, NoChange},
		{"memory up", metricByName("memory"), []float64{100}, []float64{110}, Worse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := compareFigure("c", tt.m, tt.base, tt.cand)
			if row.Verdict != tt.want {
				t.Errorf("verdict %q (delta %v, p %v), want %q", row.Verdict, row.Delta, row.P, tt.want)
			}
		})
	}
}

func TestRelChange(t *testing.T) {
	tests := []struct{ base, cand, want float64 }{
		{0, 0, 0}, {100, 150, 0.5}, {100, 50, -0.5}, {0, 3, math.Inf(1)},
	}
	for _, tt := range tests {
		if got := relChange(tt.base, tt.cand); got != tt.want {
			t.Errorf("relChange(%v, %v) = %v, want %v", tt.base, tt.cand, got, tt.want)
		}
	}
}

// noisyRun is a run of two cases at one point, none and sidecar, whose
// repetitions' p99 carry independent log-normal noise of sd sigma;
// sidecar's true p99 is factor times none's.
func noisyRun(rng *rand.Rand, reps int, sigma, factor float64) *results.Run {
	mk := func(dp string, p99 float64) results.Case {
		c := results.Case{ID: dp, Datapath: dp, Placement: "cross-node", Rate: 1000, Status: "ok"}
		for i := range reps {
			v := p99 * math.Exp(sigma*rng.NormFloat64())
			c.Repetitions = append(c.Repetitions, results.Repetition{Index: i, LatencyUS: results.Latency{P99: v}, AchievedRPS: 1000})
		}
		c.AchievedRPS = 1000
		results.JudgeRate(&c)
		return c
	}
	return &results.Run{Cases: []results.Case{mk("none", 250), mk("sidecar", 250*factor)}}
}

// TestGateNoiseAndPower measures, on synthetic runs, how often the default
// gate fails on pure noise (false alarms) and how often it catches a 30%
// p99-overhead regression, with 3 repetitions and 5% noise per repetition.
func TestGateNoiseAndPower(t *testing.T) {
	const trials = 400
	rng := rand.New(rand.NewPCG(1, 2))
	limits := mustLimits(t, DefaultLimits)
	rate := func(regression float64) float64 {
		fails := 0
		for range trials {
			base := noisyRun(rng, 3, 0.05, 2.5)
			cand := noisyRun(rng, 3, 0.05, 2.5*regression)
			if !Gate(mustCompare(t, base, cand), limits).OK() {
				fails++
			}
		}
		return float64(fails) / trials
	}
	if got := rate(1); got > 0.05 {
		t.Errorf("gate failed %.1f%% of pure-noise comparisons, want at most 5%%", got*100)
	} else {
		t.Logf("false alarms on pure noise: %.1f%%", got*100)
	}
	if got := rate(1.3); got < 0.8 {
		t.Errorf("gate caught %.1f%% of 30%% p99-overhead regressions, want at least 80%%", got*100)
	} else {
		t.Logf("30%% regressions caught: %.1f%%", got*100)
	}
}

// TestGateRate checks the gate on achieved rate against the committed
// baseline, written before the achieved fraction existed: its absence in
// the base is no regression, in the candidate it is, and a candidate case
// short of its target rate fails whatever the limits.
func TestGateRate(t *testing.T) {
	read := func() *results.Run {
		run, err := results.Read(filepath.Join("..", "baselines", "quick", "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	judged := func() *results.Run {
		run := read()
		for i := range run.Cases {
			results.JudgeRate(&run.Cases[i])
		}
		return run
	}
	// unjudged is a run written before the rate was judged.
	unjudged := func() *results.Run {
		run := read()
		for i := range run.Cases {
			run.Cases[i].AchievedFraction, run.Cases[i].RateShortfall = nil, false
		}
		return run
	}
	if g := Gate(mustCompare(t, unjudged(), judged()), Limits{}); !g.OK() {
		t.Errorf("an unjudged baseline against a judged candidate fails the gate: %v", g.Violations)
	}

	g := Gate(mustCompare(t, read(), unjudged()), Limits{})
	if len(g.Violations) == 0 || g.Violations[0].Metric != "rate" || !strings.Contains(g.Violations[0].Reason, "achieved_fraction: missing in candidate") {
		t.Errorf("a candidate without achieved_fraction: violations %v, want rate violations for the missing figure", g.Violations)
	}

	cand := judged()
	c := &cand.Cases[0]
	c.AchievedRPS = 0.9 * c.Rate
	results.JudgeRate(c)
	g = Gate(mustCompare(t, read(), cand), Limits{})
	if len(g.Violations) != 1 || g.Violations[0].Case != c.ID || g.Violations[0].Metric != "rate" ||
		!strings.Contains(g.Violations[0].Reason, "(90.0%), more than 1% short of the target rate") {
		t.Errorf("violations %v, want one rate violation for %s at 90%% of its rate", g.Violations, c.ID)
	}
}

// TestGateDefaultHopsExact checks that the default limits fail any hop
// more, a split segment's fraction too, and pass the same or fewer.
func TestGateDefaultHopsExact(t *testing.T) {
	base := resultstest.Run(t, resultstest.Options{})
	tests := []struct {
		name  string
		added float64
		ok    bool
	}{{"same", 0, true}, {"one fewer", -1, true}, {"split segment", 0.01, false}, {"new hop", 1, false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cand := resultstest.Run(t, resultstest.Options{})
			for i := range cand.Cases {
				if c := &cand.Cases[i]; c.Datapath == "nodeproxy" {
					c.Path.HopsPerRequest += tt.added
				}
			}
			g := Gate(mustCompare(t, base, cand), mustLimits(t, DefaultLimits))
			if g.OK() != tt.ok {
				t.Errorf("hops +%g: OK() = %v, want %v; violations %v", tt.added, g.OK(), tt.ok, g.Violations)
			}
		})
	}
}

// TestGateWarningsShort checks that every warning of a gate that finds
// everything to warn about is one line of at most 100 characters.
func TestGateWarningsShort(t *testing.T) {
	base := resultstest.Run(t, resultstest.Options{})
	cand := resultstest.Run(t, resultstest.Options{Datapaths: []string{"none", "nodeproxy"}, Rates: []float64{1000, 500}})
	doctor(cand, func(*results.Case) bool { return true })
	nullFigures(cand)
	cand.Environment.CPUModel, cand.Environment.Kernel = "Some Very Long CPU Model Name @ 3.00GHz", "9.9.9-long-kernel-name"
	cand.Cases[0].LatencyUS.P99 *= 3
	cand.Cases[1].Status, cand.Cases[1].Error = "failed", strings.Repeat("a long error ", 20)
	cand.Cases[2].Status, cand.Cases[2].Error = "failed", "interrupted"
	base.Cases[2].Status = "failed"
	for i := range cand.Cases {
		cand.Cases[i].DurationS *= 2
	}
	g := Gate(mustCompare(t, base, cand), mustLimits(t, DefaultLimits).Apply(mustLimits(t, "hops=off,proxies=off,memory=off,cpu=off")))
	if len(g.Warnings) < 10 {
		t.Errorf("only %d warnings, want the test to provoke more:\n%q", len(g.Warnings), g.Warnings)
	}
	// One repetition a side: nothing can be tested; the rerun lacks none.
	base1 := resultstest.Run(t, resultstest.Options{Repetitions: 1})
	cand1 := resultstest.Run(t, resultstest.Options{Repetitions: 1, Datapaths: []string{"sidecar", "nodeproxy"}})
	for i := range cand1.Cases {
		cand1.Cases[i].Repetitions[0].LatencyUS.P999 *= 2
	}
	g1 := Gate(mustCompare(t, base1, cand1), mustLimits(t, DefaultLimits).Apply(mustLimits(t, "p999=10%,p999_overhead=10%")))
	if len(g1.Warnings) < 3 {
		t.Errorf("one repetition: only %d warnings, want more:\n%q", len(g1.Warnings), g1.Warnings)
	}
	var out bytes.Buffer
	for _, g := range []*GateResult{g, g1} {
		if err := g.Write(&out); err != nil {
			t.Fatal(err)
		}
	}
	for line := range strings.Lines(out.String()) {
		if n := len([]rune(strings.TrimSuffix(line, "\n"))); strings.HasPrefix(line, "warning:") && n > 100 {
			t.Errorf("%d characters: %s", n, line)
		}
	}
}
