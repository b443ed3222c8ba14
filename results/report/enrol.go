package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/meshbench/meshbench/results"
)

// installColor marks the install's start and end in enrolment charts.
var installColor = color.RGBA{R: 0x6a, G: 0x3d, B: 0x9a, A: 0xff}

// enrolCharts draw, for each enrolment case, its series: p50 and p99 of
// each bin with the install's start and end marked, the share of requests
// through the datapath, and the errors.
func enrolCharts(s *section, cases []*results.Case) ([]*chart, error) {
	var out []*chart
	for i, c := range cases {
		if c.Enrolment == nil || len(c.Enrolment.Series) == 0 {
			continue
		}
		ch, err := enrolChart(s, c, i)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

func enrolChart(s *section, c *results.Case, i int) (*chart, error) {
	e := c.Enrolment
	title := fmt.Sprintf("%s: enrolment under load (%s)", results.DatapathLabel(c), e.Method)
	p := newPlot(title, "", "latency from intended send time")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = latencyTicks{}
	col := colorOf(c.Datapath, i)
	bin := float64(e.BinMS) / 1000
	highest, lowest := 0.0, math.Inf(1)
	var p50, p99, share, errs plotter.XYs
	for _, pt := range e.Series {
		if pt.P50US > 0 {
			p50 = append(p50, plotter.XY{X: pt.TS, Y: pt.P50US})
			lowest = min(lowest, pt.P50US)
		}
		if pt.P99US > 0 {
			p99 = append(p99, plotter.XY{X: pt.TS, Y: pt.P99US})
			highest = max(highest, pt.P99US)
		}
		if pt.Share != nil {
			share = append(share, plotter.XY{X: pt.TS, Y: *pt.Share * 100})
		}
		errs = append(errs, plotter.XY{X: pt.TS, Y: float64(pt.Errors)})
	}
	if err := addLatencyLines(p, c.ID, p99, p50, col, "", " of each 100 ms"); err != nil {
		return nil, err
	}
	if highest == 0 {
		lowest, highest = 1, 10
	}
	p.Y.Min, p.Y.Max = lowest/1.5, highest*3
	if err := markInstall(p, e, p.Y.Min, p.Y.Max, true); err != nil {
		return nil, fmt.Errorf("plot enrolment of %s: %w", c.ID, err)
	}

	sh := newPlot("", "", "% through datapath")
	sh.Y.Min, sh.Y.Max = 0, 110
	if len(share) > 0 {
		line, err := plotter.NewLine(share)
		if err != nil {
			return nil, fmt.Errorf("plot enrolment share of %s: %w", c.ID, err)
		}
		line.StepStyle = plotter.PostStep
		line.Color = col
		line.Width = vg.Points(1.5)
		sh.Add(line)
	} else {
		sh.Y.Label.Text = "% through datapath: not counted"
	}
	if err := markInstall(sh, e, 0, 110, false); err != nil {
		return nil, fmt.Errorf("plot enrolment of %s: %w", c.ID, err)
	}

	ep, err := errorsPlot(errs)
	if err != nil {
		return nil, fmt.Errorf("plot enrolment errors of %s: %w", c.ID, err)
	}
	if err := markInstall(ep, e, 0, ep.Y.Max, false); err != nil {
		return nil, fmt.Errorf("plot enrolment of %s: %w", c.ID, err)
	}

	last := e.Series[len(e.Series)-1].TS + bin
	for _, q := range []*plot.Plot{p, sh, ep} {
		q.X.Min, q.X.Max = 0, last
	}
	caption := fmt.Sprintf("The datapath was installed into the running cluster at %s (marked), the install ended at %s; %d pods restarted.",
		results.FormatSeconds(e.AfterS), results.FormatSeconds(e.AfterS+e.InstallS), e.PodsRestarted)
	return &chart{name: fmt.Sprintf("%s-enrol-%d", s.anchor, i+1), title: title, caption: caption, plot: p, below: sh, lower: ep}, nil
}

// markInstall draws the install's start (solid) and end (dashed) as
// vertical lines from lo to hi, in the legend when legend is set.
func markInstall(p *plot.Plot, e *results.Enrolment, lo, hi float64, legend bool) error {
	for _, m := range []struct {
		name string
		x    float64
		dash bool
	}{{"install starts", e.AfterS, false}, {"install ends", e.AfterS + e.InstallS, true}} {
		l, err := plotter.NewLine(plotter.XYs{{X: m.x, Y: lo}, {X: m.x, Y: hi}})
		if err != nil {
			return err
		}
		l.Color = installColor
		l.Width = vg.Points(1.5)
		if m.dash {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		if legend {
			p.Legend.Add(m.name, l)
		}
	}
	return nil
}
