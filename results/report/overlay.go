package report

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/compare"
)

// baseColor draws the base run where one chart shows one datapath of both
// runs; the candidate keeps the datapath's colour.
var baseColor = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}

// dashes draw the base run's lines on the spectrum, and p50 lines over
// time.
var dashes = []vg.Length{vg.Points(4), vg.Points(3)}

// Overlays draws the latency charts of a report with both runs on one
// axis: per matrix point that ran without failure in both, the percentile
// spectrum of every datapath (its colour; the base run dashed, the
// candidate solid), and per case, latency over time (the base run grey,
// the candidate in the datapath's colour; p99 solid, p50 dashed) when both
// run directories still hold a samples file. baseDir and candDir are the
// run directories, "" for none. Points and cases of one run only are left
// out, as the comparison table leaves them out.
func Overlays(base, cand *results.Run, baseDir, candDir string) ([]compare.OverlayPoint, error) {
	bv, err := newView("", base, false)
	if err != nil {
		return nil, err
	}
	cv, err := newView("", cand, false)
	if err != nil {
		return nil, err
	}
	var out []compare.OverlayPoint
	for _, bs := range bv.sections {
		i := slices.IndexFunc(cv.sections, func(cs *section) bool { return cs.cases[0].Point() == bs.cases[0].Point() })
		if i < 0 {
			continue
		}
		pairs := pairCases(bs.cases, cv.sections[i].cases)
		if len(pairs) == 0 {
			continue
		}
		charts := []*chart{overlaySpectrum(bs, pairs)}
		for j, pr := range pairs {
			bRep, bws := caseWindows(baseDir, pr[0])
			cRep, cws := caseWindows(candDir, pr[1])
			if bws == nil || cws == nil {
				continue
			}
			ch, err := overlayOverTime(bs, j, pr, [2]int{bRep, cRep}, [2][]window{bws, cws})
			if err != nil {
				return nil, err
			}
			charts = append(charts, ch)
		}
		pt := compare.OverlayPoint{Title: bs.title}
		for _, ch := range charts {
			if ch == nil {
				continue
			}
			f, err := svgFigure(ch)
			if err != nil {
				return nil, err
			}
			pt.Charts = append(pt.Charts, compare.Overlay{ID: "compare-" + ch.name, Caption: ch.caption, SVG: f.SVG})
		}
		if len(pt.Charts) > 0 {
			out = append(out, pt)
		}
	}
	return out, nil
}

// pairCases pairs the cases of one matrix point in both runs by datapath
// (and its options), in the base run's order, leaving out failed ones.
func pairCases(base, cand []*results.Case) [][2]*results.Case {
	var out [][2]*results.Case
	for _, b := range base {
		if failed(b) {
			continue
		}
		i := slices.IndexFunc(cand, func(c *results.Case) bool { return !failed(c) && c.ID == b.ID })
		if i >= 0 {
			out = append(out, [2]*results.Case{b, cand[i]})
		}
	}
	return out
}

// runNames label the two runs in legends.
var runNames = [2]string{"base", "candidate"}

// overlaySpectrum plots the spectrum of every paired datapath of both
// runs, or returns nil when no case has latencies.
func overlaySpectrum(s *section, pairs [][2]*results.Case) *chart {
	p := newPlot("Latency percentile spectrum, both runs", "percentile", "latency from intended send time")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Tick.Marker = latencyTicks{}
	highest := 0.0
	for i, pr := range pairs {
		for run, c := range pr {
			xys := spectrum(c)
			if len(xys) == 0 {
				continue
			}
			line, err := plotter.NewLine(xys)
			if err != nil {
				continue
			}
			line.Color = colorOf(c.Datapath, i)
			if run == 0 {
				line.Dashes = dashes
			}
			line.Width = vg.Points(1.5)
			p.Add(line)
			p.Legend.Add(results.DatapathLabel(c)+" · "+runNames[run], line)
			highest = max(highest, slices.MaxFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.Y, b.Y) }).Y)
		}
	}
	if highest == 0 {
		return nil
	}
	// Room above the lines for the legend (the axis is logarithmic).
	p.Y.Max = highest * math.Pow(3, float64(len(pairs)+1)/2)
	return &chart{name: s.anchor + "-latency", title: "Latency percentile spectrum",
		caption: "Each datapath in its colour: the base run dashed, the candidate solid.", plot: p}
}

// overlayOverTime plots one case's p50 and p99 per overTimeWindow and its
// errors for both runs; reps are the repetitions the windows are of.
func overlayOverTime(s *section, i int, pr [2]*results.Case, reps [2]int, ws [2][]window) (*chart, error) {
	label := results.DatapathLabel(pr[1])
	title := fmt.Sprintf("%s: latency over time, both runs", label)
	p := newPlot(title, "", "latency from intended send time")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = latencyTicks{}
	e := newPlot("", "seconds since the first intended send", "errors / 100 ms")
	e.Y.Tick.Marker = integerTicks{}
	highest, lowest, last, mostErrors := 0.0, math.Inf(1), 0.0, 0.0
	for run, c := range pr {
		var col color.Color = baseColor
		if run == 1 {
			col = colorOf(c.Datapath, i)
		}
		var p50, p99, errs plotter.XYs
		for _, w := range ws[run] {
			if w.p50 > 0 {
				p50 = append(p50, plotter.XY{X: w.start, Y: w.p50})
				lowest = min(lowest, w.p50)
			}
			if w.p99 > 0 {
				p99 = append(p99, plotter.XY{X: w.start, Y: w.p99})
				highest = max(highest, w.p99)
			}
			errs = append(errs, plotter.XY{X: w.start, Y: float64(w.errors)})
			mostErrors = max(mostErrors, float64(w.errors))
		}
		if n := len(ws[run]); n > 0 {
			last = max(last, ws[run][n-1].start+overTimeWindow.Seconds())
		}
		name := fmt.Sprintf("%s (repetition %d)", runNames[run], reps[run]+1)
		if err := addLatencyLines(p, c.ID, p99, p50, col, name+" ", ""); err != nil {
			return nil, err
		}
		line, err := plotter.NewLine(errs)
		if err != nil {
			return nil, fmt.Errorf("plot errors over time of %s: %w", c.ID, err)
		}
		line.StepStyle = plotter.PostStep
		line.Color = col
		e.Add(line)
	}
	if highest > 0 && lowest <= highest {
		p.Y.Min, p.Y.Max = lowest/1.5, highest*6
	}
	e.Y.Min, e.Y.Max = 0, max(1, mostErrors)*1.2
	p.X.Min, e.X.Min = 0, 0
	p.X.Max, e.X.Max = last, last
	return &chart{name: fmt.Sprintf("%s-time-%d", s.anchor, i+1), title: title,
		caption: "p50 and p99 of each 100 ms window: the base run grey, the candidate in the datapath's colour; p99 solid, p50 dashed. Errors below.",
		plot:    p, below: e}, nil
}
