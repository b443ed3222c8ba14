package report

import (
	"cmp"
	"fmt"
	"image/color"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/meshbench/meshbench/results"
)

// overTimeWindow is the width of the windows an over-time chart draws.
const overTimeWindow = 100 * time.Millisecond

// window is one overTimeWindow of a repetition's samples.
type window struct {
	// start is the window's start, in seconds since the first intended
	// send.
	start    float64
	p50, p99 float64 // µs, of every request in the window
	errors   int
}

// windows buckets samples by their intended send time into
// overTimeWindow windows, in time order; windows without a request are
// left out.
func windows(samples []results.Sample) []window {
	if len(samples) == 0 {
		return nil
	}
	t0 := slices.MinFunc(samples, func(a, b results.Sample) int { return cmp.Compare(a.Intended, b.Intended) }).Intended
	byWindow := map[int64][]*results.Sample{}
	for i := range samples {
		s := &samples[i]
		k := (s.Intended - t0) / int64(overTimeWindow)
		byWindow[k] = append(byWindow[k], s)
	}
	var out []window
	for _, k := range slices.Sorted(maps.Keys(byWindow)) {
		in := byWindow[k]
		lat := make([]float64, len(in))
		w := window{start: float64(k) * overTimeWindow.Seconds()}
		for i, s := range in {
			lat[i] = float64(s.Latency) / float64(time.Microsecond)
			if s.Failed() {
				w.errors++
			}
		}
		slices.Sort(lat)
		w.p50, w.p99 = nearestRank(lat, 0.50), nearestRank(lat, 0.99)
		out = append(out, w)
	}
	return out
}

// nearestRank is the q quantile of sorted values by the nearest-rank
// method, as HDR histograms report percentiles.
func nearestRank(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// errorColor draws errors in every chart.
var errorColor = color.RGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}

// overTimeCharts draw, for each case with a readable samples file, its
// first such repetition's p50 and p99 latency and errors per
// overTimeWindow over time, from intended send times (as vegeta's plot
// does). dir is the run directory; "" draws none.
func overTimeCharts(dir string, s *section, cases []*results.Case) ([]*chart, error) {
	var charts []*chart
	for i, c := range cases {
		rep, ws := caseWindows(dir, c)
		if ws == nil {
			continue
		}
		ch, err := overTimeChart(s, c, i, rep, ws)
		if err != nil {
			return nil, err
		}
		charts = append(charts, ch)
	}
	return charts, nil
}

// caseWindows returns the windows of the first repetition of c whose
// samples file in dir (the run directory) reads, and that repetition's
// index; nil windows when none does or dir is "". Samples are optional: a
// run copied without them still has its other charts.
func caseWindows(dir string, c *results.Case) (int, []window) {
	if dir == "" {
		return 0, nil
	}
	for _, rep := range c.Repetitions {
		if rep.Samples == "" {
			continue
		}
		samples, err := results.ReadSamples(filepath.Join(dir, rep.Samples))
		if err != nil || len(samples) == 0 {
			continue
		}
		return rep.Index, windows(samples)
	}
	return 0, nil
}

func overTimeChart(s *section, c *results.Case, i, rep int, ws []window) (*chart, error) {
	title := fmt.Sprintf("%s: latency over time (repetition %d)", results.DatapathLabel(c), rep+1)
	p := newPlot(title, "", "latency from intended send time")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = latencyTicks{}
	col := colorOf(c.Datapath, i)
	highest, lowest := 0.0, math.Inf(1)
	var p50, p99, errs plotter.XYs
	for _, w := range ws {
		if w.p50 > 0 {
			p50 = append(p50, plotter.XY{X: w.start, Y: w.p50})
			lowest = min(lowest, w.p50)
		}
		if w.p99 > 0 {
			p99 = append(p99, plotter.XY{X: w.start, Y: w.p99})
			highest = max(highest, w.p99)
		}
		errs = append(errs, plotter.XY{X: w.start, Y: float64(w.errors)})
	}
	if err := addLatencyLines(p, c.ID, p99, p50, col, "", " of each 100 ms"); err != nil {
		return nil, err
	}
	if highest > 0 && lowest <= highest {
		// Room above the lines for the legend, and below them off the
		// axis (the axis is logarithmic).
		p.Y.Min, p.Y.Max = lowest/1.5, highest*3
	}

	e, err := errorsPlot(errs)
	if err != nil {
		return nil, fmt.Errorf("plot errors over time of %s: %w", c.ID, err)
	}
	// Both panels span the same time.
	p.X.Min, e.X.Min = 0, 0
	last := ws[len(ws)-1].start + overTimeWindow.Seconds()
	p.X.Max, e.X.Max = last, last
	return &chart{name: fmt.Sprintf("%s-time-%d", s.anchor, i+1), title: title, plot: p, below: e}, nil
}

// integerTicks label a count axis at whole numbers.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := math.Max(1, math.Ceil((hi-lo)/4))
	var ticks []plot.Tick
	for v := math.Ceil(lo); v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
	}
	return ticks
}

// addLatencyLines draws p99 (solid) and p50 (dashed) over time in col on
// p, each in the legend as prefix, its name and suffix; a series without
// points is left out.
func addLatencyLines(p *plot.Plot, id string, p99, p50 plotter.XYs, col color.Color, prefix, suffix string) error {
	for _, q := range []struct {
		name   string
		xys    plotter.XYs
		dashed bool
	}{{"p99", p99, false}, {"p50", p50, true}} {
		if len(q.xys) == 0 {
			continue
		}
		line, err := plotter.NewLine(q.xys)
		if err != nil {
			return fmt.Errorf("plot latency over time of %s: %w", id, err)
		}
		line.Color = col
		if q.dashed {
			line.Dashes = dashes
		}
		p.Add(line)
		p.Legend.Add(prefix+q.name+suffix, line)
	}
	return nil
}

// errorsPlot is the panel of errors per overTimeWindow under a latency
// chart: errs as filled steps, on an integer axis from 0 to a little above
// the most.
func errorsPlot(errs plotter.XYs) (*plot.Plot, error) {
	e := newPlot("", "seconds since the first intended send", "errors / 100 ms")
	line, err := plotter.NewLine(errs)
	if err != nil {
		return nil, err
	}
	line.StepStyle = plotter.PostStep
	line.Color, line.FillColor = errorColor, errorColor
	e.Add(line)
	e.Y.Min = 0
	e.Y.Max = max(1, slices.MaxFunc(errs, func(a, b plotter.XY) int { return cmp.Compare(a.Y, b.Y) }).Y) * 1.2
	e.Y.Tick.Marker = integerTicks{}
	return e, nil
}
