package report

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/meshbench/meshbench/results"
)

// chart is one rendered figure.
type chart struct {
	// name is the chart's file stem, unique in the run.
	name  string
	title string
	// caption says what the chart shows beyond its title; "" for none.
	caption string
	plot    *plot.Plot
	// below, when set, is a lower panel sharing plot's x axis; lower,
	// when set too, a third panel under it.
	below, lower *plot.Plot
}

// Chart size: wide enough for four datapaths' legends.
const (
	chartWidth  = 7 * vg.Inch
	chartHeight = 4 * vg.Inch
)

// pngScale is the PNG charts' resolution over a screen's 96 dpi: sharp
// on slides and high-density screens.
const pngScale = 2

// belowShare is the share of a chart's height its lower panel takes.
const belowShare = 0.3

// render writes the chart as "svg" or "png" (at pngScale times 96 dpi).
func (c *chart) render(format string) ([]byte, error) {
	h := chartHeight
	if n := len(c.panels()) - 1; n > 0 {
		// The main panel keeps its height, each lower one adds its share.
		h = chartHeight * vg.Length(1+float64(n)*belowShare/(1-belowShare))
	}
	var canvas vg.CanvasWriterTo
	switch format {
	case "svg":
		canvas = vgsvg.New(chartWidth, h)
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(chartWidth, h), vgimg.UseDPI(pngScale*vgimg.DefaultDPI))}
	default:
		return nil, fmt.Errorf("render chart %s: unknown format %q", c.name, format)
	}
	c.draw(draw.New(canvas))
	var b bytes.Buffer
	if _, err := canvas.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("render chart %s: %w", c.name, err)
	}
	return b.Bytes(), nil
}

// draw draws the chart on dc, a lower panel under the main one with their
// data areas' left and right edges aligned.
func (c *chart) draw(dc draw.Canvas) {
	// Room for the last x tick's label, which may reach past the axis.
	dc = draw.Crop(dc, 0, -vg.Points(10), 0, 0)
	panels := c.panels()
	if len(panels) == 1 {
		c.plot.Draw(dc)
		return
	}
	// Heights in the proportions render gave them, the main panel on top.
	h := dc.Max.Y - dc.Min.Y
	lowerH := h * vg.Length(belowShare/(1-belowShare)) / vg.Length(1+float64(len(panels)-1)*belowShare/(1-belowShare))
	canvases := make([]draw.Canvas, len(panels))
	top := dc.Max.Y
	for i := range panels {
		ph := lowerH
		if i == 0 {
			ph = h - lowerH*vg.Length(len(panels)-1)
		}
		canvases[i] = draw.Crop(dc, 0, 0, top-ph-dc.Min.Y, top-dc.Max.Y)
		top -= ph
	}
	// Align the data areas' left and right edges: the innermost wins.
	left, right := vg.Length(math.Inf(-1)), vg.Length(math.Inf(1))
	for i, p := range panels {
		d := p.DataCanvas(canvases[i])
		left, right = max(left, d.Min.X), min(right, d.Max.X)
	}
	for i, p := range panels {
		d := p.DataCanvas(canvases[i])
		canvases[i] = draw.Crop(canvases[i], left-d.Min.X, right-d.Max.X, 0, 0)
		p.Draw(canvases[i])
	}
}

// panels are the chart's plots from top to bottom.
func (c *chart) panels() []*plot.Plot {
	out := []*plot.Plot{c.plot}
	for _, p := range []*plot.Plot{c.below, c.lower} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// datapathColors keep a datapath's color the same in every chart.
var datapathColors = map[string]color.Color{
	"none":      color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff},
	"sidecar":   color.RGBA{R: 0xd9, G: 0x5f, B: 0x02, A: 0xff},
	"nodeproxy": color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"ebpf":      color.RGBA{R: 0x1b, G: 0x9e, B: 0x77, A: 0xff},
}

func colorOf(datapath string, i int) color.Color {
	if c, ok := datapathColors[datapath]; ok {
		return c
	}
	return plotutil.Color(i)
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	// Space between entries: a browser may draw the SVG's text larger
	// than gonum measured it.
	p.Legend.Padding = vg.Points(2)
	p.Add(plotter.NewGrid())
	return p
}

// sectionCharts draws a matrix point's charts: those its cases have data
// for.
func sectionCharts(dir string, s *section) ([]*chart, error) {
	var ok []*results.Case
	for _, c := range s.cases {
		if !failed(c) {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 {
		return nil, nil
	}
	if results.IsStream(*ok[0]) {
		return streamCharts(s, ok) // a point has one protocol
	}
	var charts []*chart
	curve, err := searchChart(s)
	if err != nil {
		return nil, err
	}
	if curve != nil {
		charts = append(charts, curve)
	}
	spectrum, err := spectrumChart(s, ok)
	if err != nil {
		return nil, err
	}
	if spectrum != nil {
		charts = append(charts, spectrum)
	}
	if ok[0].Enrolling() {
		// A point's cases are all enrolment cases or none: their series
		// is the over-time chart, with the share and the install.
		return enrolCharts(s, ok)
	}
	overTime, err := overTimeCharts(dir, s, ok)
	if err != nil {
		return nil, err
	}
	charts = append(charts, overTime...)
	costs, err := costCharts(s, ok)
	if err != nil {
		return nil, err
	}
	charts = append(charts, costs...)
	hops, err := hopsChart(s, ok)
	if err != nil {
		return nil, err
	}
	if hops != nil {
		charts = append(charts, hops)
	}
	return charts, nil
}

// spectrumQuantiles are where the spectrum is drawn, as 1/(1-q): from the
// median to the 99.99th percentile, ten points a decade.
func spectrumQuantiles(count int64) []float64 {
	var xs []float64
	for x := 2.0; x <= 1e4*1.0001 && x <= float64(count); x *= math.Pow(10, 0.1) {
		xs = append(xs, x)
	}
	return xs
}

// spectrumChart plots each datapath's latency percentile spectrum on log
// axes, from all repetitions' histograms merged.
func spectrumChart(s *section, cases []*results.Case) (*chart, error) {
	p := newPlot("Latency percentile spectrum", "percentile", "latency from intended send time")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Tick.Marker = latencyTicks{}
	lines := 0
	for i, c := range cases {
		xys := spectrum(c)
		if len(xys) == 0 {
			continue
		}
		lines++
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("plot latency spectrum of %s: %w", c.ID, err)
		}
		line.Color, points.Color = colorOf(c.Datapath, i), colorOf(c.Datapath, i)
		points.Radius = vg.Points(1.5)
		p.Add(line, points)
		p.Legend.Add(results.DatapathLabel(c), line, points)
	}
	if lines == 0 {
		return nil, nil
	}
	return &chart{name: s.anchor + "-latency", title: "Latency percentile spectrum", plot: p}, nil
}

// spectrum returns a case's latency (µs) at spectrumQuantiles, from its
// repetitions' histograms merged, or from its median percentiles when no
// histogram decodes.
func spectrum(c *results.Case) plotter.XYs {
	var merged *hdrhistogram.Histogram
	for _, r := range c.Repetitions {
		h, err := results.DecodeHistogram(r.Histogram)
		if err != nil {
			continue
		}
		if merged == nil {
			merged = h
		} else {
			merged.Merge(h)
		}
	}
	var xys plotter.XYs
	if merged == nil || merged.TotalCount() == 0 {
		l := c.LatencyUS
		for _, pt := range []struct{ x, us float64 }{{2, l.P50}, {10, l.P90}, {100, l.P99}, {1000, l.P999}} {
			if pt.us > 0 {
				xys = append(xys, plotter.XY{X: pt.x, Y: pt.us})
			}
		}
		return xys
	}
	for _, x := range spectrumQuantiles(merged.TotalCount()) {
		q := 100 * (1 - 1/x)
		us := float64(merged.ValueAtQuantile(q)) / 1e3
		if us > 0 {
			xys = append(xys, plotter.XY{X: x, Y: us})
		}
	}
	return xys
}

// percentileTicks label a 1/(1-q) log axis in percentiles.
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for _, t := range []struct {
		x     float64
		label string
	}{{2, "50%"}, {10, "90%"}, {100, "99%"}, {1000, "99.9%"}, {1e4, "99.99%"}} {
		if t.x >= lo*0.999 && t.x <= hi*1.001 {
			ticks = append(ticks, plot.Tick{Value: t.x, Label: t.label})
		}
	}
	return ticks
}

// latencyTicks label a log latency axis (µs) at 1, 2 and 5 times powers
// of ten, in human units.
type latencyTicks struct{}

func (latencyTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	if !(lo > 0) || !(hi >= lo) {
		return nil
	}
	for decade := math.Pow(10, math.Floor(math.Log10(lo))); decade <= hi; decade *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := decade * m; v >= lo && v <= hi {
				ticks = append(ticks, plot.Tick{Value: v, Label: results.FormatMicros(v)})
			}
		}
	}
	if len(ticks) < 2 {
		// A narrow range: label its ends.
		return []plot.Tick{{Value: lo, Label: results.FormatMicros(lo)}, {Value: hi, Label: results.FormatMicros(hi)}}
	}
	return ticks
}

// costCharts plot datapath memory and CPU per node, a bar per datapath
// for every node.
func costCharts(s *section, cases []*results.Case) ([]*chart, error) {
	var costed []*results.Case
	for _, c := range cases {
		if len(c.NodeCosts) > 0 {
			costed = append(costed, c)
		}
	}
	if len(costed) == 0 {
		return nil, nil
	}
	var nodes []string
	for _, c := range costed {
		for _, n := range c.NodeCosts {
			if !slices.Contains(nodes, n.Node) {
				nodes = append(nodes, n.Node)
			}
		}
	}
	mem, err := nodeBars(s, costed, nodes, "Datapath memory per node", "MiB (PSS, mean)", "-memory",
		func(n results.NodeCost) float64 { return n.DatapathMemoryBytesMean / (1 << 20) })
	if err != nil {
		return nil, err
	}
	cpu, err := nodeBars(s, costed, nodes, "Datapath CPU per node", "CPU ms per 1000 requests", "-cpu",
		func(n results.NodeCost) float64 { return n.DatapathCPUPer1kRequests * 1e3 })
	if err != nil {
		return nil, err
	}
	return []*chart{mem, cpu}, nil
}

// streamCharts plot a stream point's throughput, a bar per datapath, and
// its datapath CPU per GiB and memory per node.
func streamCharts(s *section, cases []*results.Case) ([]*chart, error) {
	var measured []*results.Case
	for _, c := range cases {
		if c.Stream != nil {
			measured = append(measured, c)
		}
	}
	if len(measured) == 0 {
		return nil, nil
	}
	const title = "Stream throughput"
	p := newPlot(title, "", "Gbit/s")
	names := make([]string, len(measured))
	width := barWidth(len(measured), 2)
	total, median := make(plotter.Values, len(measured)), make(plotter.Values, len(measured))
	tallest := 0.0
	for i, c := range measured {
		names[i] = results.DatapathLabel(c)
		total[i], median[i] = c.Stream.Gbps, c.Stream.PerConnectionGbps.Median
		tallest = max(tallest, total[i], median[i])
	}
	p.NominalX(names...)
	for i, part := range []struct {
		name string
		vals plotter.Values
	}{{"all streams", total}, {"per stream (median)", median}} {
		bars, err := plotter.NewBarChart(part.vals, width)
		if err != nil {
			return nil, fmt.Errorf("plot stream throughput: %w", err)
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = groupOffset(i, 2, width)
		p.Add(bars)
		p.Legend.Add(part.name, bars)
	}
	frameBars(p, len(measured), tallest)
	charts := []*chart{{name: s.anchor + "-stream", title: title, plot: p}}
	var nodes []string
	for _, c := range measured {
		for _, n := range c.NodeCosts {
			if !slices.Contains(nodes, n.Node) {
				nodes = append(nodes, n.Node)
			}
		}
	}
	if len(nodes) == 0 {
		return charts, nil
	}
	cpu, err := nodeBars(s, measured, nodes, "Datapath CPU per GiB moved", "CPU seconds per GiB", "-cpu",
		func(n results.NodeCost) float64 { return n.DatapathCPUPerGiB })
	if err != nil {
		return nil, err
	}
	mem, err := nodeBars(s, measured, nodes, "Datapath memory per node", "MiB (PSS, mean)", "-memory",
		func(n results.NodeCost) float64 { return n.DatapathMemoryBytesMean / (1 << 20) })
	if err != nil {
		return nil, err
	}
	return append(charts, cpu, mem), nil
}

func nodeBars(s *section, cases []*results.Case, nodes []string, title, unit, suffix string, f func(results.NodeCost) float64) (*chart, error) {
	p := newPlot(title, "node", unit)
	p.NominalX(nodes...)
	width := barWidth(len(nodes), len(cases))
	tallest := 0.0
	for i, c := range cases {
		vals := make(plotter.Values, len(nodes))
		for _, n := range c.NodeCosts {
			vals[slices.Index(nodes, n.Node)] = f(n)
			tallest = max(tallest, f(n))
		}
		if !slices.ContainsFunc(vals, func(v float64) bool { return v > 0 }) {
			// No datapath cost anywhere (none): no bars, and no
			// empty legend entry.
			continue
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("plot %s of %s: %w", title, c.ID, err)
		}
		bars.Color = colorOf(c.Datapath, i)
		bars.LineStyle.Width = 0
		bars.Offset = groupOffset(i, len(cases), width)
		p.Add(bars)
		p.Legend.Add(results.DatapathLabel(c), bars)
	}
	frameBars(p, len(nodes), tallest)
	return &chart{name: s.anchor + suffix, title: title, plot: p}, nil
}

// plotAreaWidth is roughly the width of a chart's data area, in points.
const plotAreaWidth = 7*72 - 70

// barWidth fits bars bars side by side into each of categories categories,
// three quarters of the category wide.
func barWidth(categories, bars int) vg.Length {
	w := 0.75 * plotAreaWidth / float64(max(categories*bars, 1))
	return vg.Points(min(24, max(2, w)))
}

// frameBars fixes a bar chart's axes: every category fully inside, and room
// above the tallest bar for the legend.
func frameBars(p *plot.Plot, categories int, tallest float64) {
	p.X.Min, p.X.Max = -0.5, float64(categories)-0.5
	p.Y.Min = 0
	if tallest > 0 {
		p.Y.Max = tallest * 1.45
	}
}

// groupOffset centres bar i of n around its category.
func groupOffset(i, n int, width vg.Length) vg.Length {
	return vg.Length(float64(i)-float64(n-1)/2) * width
}

// hopsChart plots each datapath's packet path per request, broken down by
// what the probe counted.
func hopsChart(s *section, cases []*results.Case) (*chart, error) {
	var probed []*results.Case
	for _, c := range cases {
		if c.Path != nil {
			probed = append(probed, c)
		}
	}
	if len(probed) == 0 {
		return nil, nil
	}
	p := newPlot("Packet path per request", "", "count per request")
	names := make([]string, len(probed))
	for i, c := range probed {
		names[i] = results.DatapathLabel(c) + "\n" + results.FormatNumber(c.Path.HopsPerRequest) + " hops"
	}
	p.NominalX(names...)
	parts := []struct {
		name string
		f    func(*results.Path) float64
	}{
		{"device transmits", func(p *results.Path) float64 { return p.Transmits }},
		{"device receives", func(p *results.Path) float64 { return p.Receives }},
		{"pure ACKs (not hops)", func(p *results.Path) float64 { return p.AcksPerRequest }},
		{"socket crossings", func(p *results.Path) float64 { return p.SocketCrossings }},
		{"route lookups", func(p *results.Path) float64 { return p.RouteLookups }},
		{"netfilter hits", func(p *results.Path) float64 { return p.NetfilterHits }},
		{"datapath redirects", func(p *results.Path) float64 { return p.Redirects }},
	}
	width := barWidth(len(probed), len(parts))
	tallest := 0.0
	for i, part := range parts {
		vals := make(plotter.Values, len(probed))
		for j, c := range probed {
			vals[j] = part.f(c.Path)
			tallest = max(tallest, vals[j])
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("plot packet path: %w", err)
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = groupOffset(i, len(parts), width)
		p.Add(bars)
		p.Legend.Add(part.name, bars)
	}
	frameBars(p, len(probed), tallest)
	return &chart{name: s.anchor + "-path", title: "Packet path per request", plot: p,
		caption: "Hops are the device transmits and receives of data; pure ACKs are counted apart and are not hops."}, nil
}

// rateCharts plot p50 and p99 against the request rate for every group of
// points that differ only in rate and has several rates.
func rateCharts(run *results.Run) ([]*chart, error) {
	type group struct {
		key   results.Point // the point with Rate 0
		title string
		cases []*results.Case
	}
	var groups []*group
	for i := range run.Cases {
		c := &run.Cases[i]
		if failed(c) {
			continue
		}
		key := c.Point()
		key.Rate = 0
		idx := slices.IndexFunc(groups, func(g *group) bool { return g.key == key })
		if idx < 0 {
			groups = append(groups, &group{key: key, title: fmt.Sprintf("%s · %s · %d connections", c.Placement, servicesText(c.Services), c.Connections)})
			idx = len(groups) - 1
		}
		groups[idx].cases = append(groups[idx].cases, c)
	}
	var charts []*chart
	for gi, g := range groups {
		var rates []float64
		var datapaths []string
		for _, c := range g.cases {
			if !slices.Contains(rates, c.Rate) {
				rates = append(rates, c.Rate)
			}
			if !slices.Contains(datapaths, results.DatapathLabel(c)) {
				datapaths = append(datapaths, results.DatapathLabel(c))
			}
		}
		if len(rates) < 2 {
			continue
		}
		p := newPlot("Latency vs request rate — "+g.title, "target rate (requests/s)", "latency")
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = latencyTicks{}
		highest := 0.0
		for i, dp := range datapaths {
			for _, q := range []struct {
				name   string
				f      results.LatencyField
				dashed bool
			}{{"p99", results.P99, false}, {"p50", results.P50, true}} {
				var xys plotter.XYs
				var datapath string
				for _, c := range g.cases {
					if results.DatapathLabel(c) == dp && q.f(c.LatencyUS) > 0 {
						xys = append(xys, plotter.XY{X: c.Rate, Y: q.f(c.LatencyUS)})
						datapath = c.Datapath
						highest = max(highest, q.f(c.LatencyUS))
					}
				}
				if len(xys) == 0 {
					continue
				}
				slices.SortFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
				line, points, err := plotter.NewLinePoints(xys)
				if err != nil {
					return nil, fmt.Errorf("plot latency vs rate: %w", err)
				}
				line.Color, points.Color = colorOf(datapath, i), colorOf(datapath, i)
				if q.dashed {
					line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				}
				p.Add(line, points)
				if !q.dashed {
					p.Legend.Add(dp, line, points)
				}
			}
		}
		// Room above the lines for the legend (the axis is logarithmic).
		p.Y.Max = highest * 2.5
		charts = append(charts, &chart{name: "rate-" + strconv.Itoa(gi+1), title: "Latency vs request rate", plot: p, caption: "p99 solid, p50 dashed; medians over repetitions."})
	}
	return charts, nil
}

// searchChart plots a search point's curve: each datapath's p50 and p99
// against the rates its search stepped through, failed cases' searches
// included (a search can fail at its lowest rate). Nil when the point's
// cases did not search.
func searchChart(s *section) (*chart, error) {
	const title = "Rate search: latency vs rate"
	p := newPlot(title, "rate (requests/s)", "latency from intended send time")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = latencyTicks{}
	highest, lines := 0.0, 0
	for i, c := range s.cases {
		if c.Search == nil {
			continue
		}
		for _, q := range []struct {
			f      func(results.SearchStep) float64
			dashed bool
		}{{func(st results.SearchStep) float64 { return st.P99US }, false}, {func(st results.SearchStep) float64 { return st.P50US }, true}} {
			var xys plotter.XYs
			for _, st := range c.Search.Steps {
				if v := q.f(st); v > 0 {
					xys = append(xys, plotter.XY{X: st.RateRPS, Y: v})
					highest = max(highest, v)
				}
			}
			if len(xys) == 0 {
				continue
			}
			slices.SortFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, fmt.Errorf("plot the search of %s: %w", c.ID, err)
			}
			line.Color, points.Color = colorOf(c.Datapath, i), colorOf(c.Datapath, i)
			if q.dashed {
				line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			} else {
				p.Legend.Add(results.DatapathLabel(c), line, points)
			}
			p.Add(line, points)
			lines++
		}
	}
	if lines == 0 {
		return nil, nil
	}
	p.Y.Max = highest * 2.5
	return &chart{name: s.anchor + "-search", title: title, plot: p, caption: "p99 solid, p50 dashed, at every rate each search measured; the highest rate that met the bounds is in the table above."}, nil
}
