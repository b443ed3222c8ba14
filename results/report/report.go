package report

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results"
)

// File names inside the run directory.
const (
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
	ChartsDir    = "charts" // report.md's PNG charts
)

// WriteAll writes report.md with its PNG charts under charts/ and
// report.html into dir, the run directory. run is not modified; statistics
// it lacks (a run written before results.Finalize ran) are computed.
func WriteAll(dir string, run *results.Run) error {
	v, err := newView(dir, run, true)
	if err != nil {
		return err
	}
	if err := v.writeMarkdown(dir); err != nil {
		return err
	}
	return v.writeHTML(dir)
}

// view is a run laid out for reports: cases grouped by matrix point, with
// the charts of each point.
type view struct {
	run      *results.Run
	sections []*section
	// rateCharts plot latency against request rate, one per group of
	// points that differ only in rate, when there are several rates.
	rateCharts []*chart
}

// section is one matrix point.
type section struct {
	title  string
	anchor string
	cases  []*results.Case
	charts []*chart
}

// newView finalizes a copy of run and lays it out, with its charts when
// draw is set (the terminal has none); dir is the run directory, where the
// samples files are, or "" to draw no chart from them.
func newView(dir string, run *results.Run, draw bool) (*view, error) {
	r := *run
	r.Cases = slices.Clone(run.Cases)
	results.Finalize(&r)
	v := &view{run: &r}
	index := map[results.Point]*section{}
	for i := range r.Cases {
		c := &r.Cases[i]
		s, ok := index[c.Point()]
		if !ok {
			n := len(v.sections) + 1
			s = &section{title: pointTitle(c), anchor: "point-" + strconv.Itoa(n)}
			index[c.Point()] = s
			v.sections = append(v.sections, s)
		}
		s.cases = append(s.cases, c)
	}
	if !draw {
		return v, nil
	}
	for _, s := range v.sections {
		charts, err := sectionCharts(dir, s)
		if err != nil {
			return nil, err
		}
		s.charts = charts
	}
	charts, err := rateCharts(&r)
	if err != nil {
		return nil, err
	}
	v.rateCharts = charts
	return v, nil
}

// pointTitle names a case's matrix point:
// "cross-node · 1 service · 1000 req/s · 8 connections · 0B/1KiB".
func pointTitle(c *results.Case) string {
	if results.IsStream(*c) {
		// A stream has no rate and no sizes.
		return strings.Join([]string{c.ProtocolName(), c.Placement, servicesText(c.Services), fmt.Sprintf("%d connections", c.Connections)}, " · ")
	}
	var enrol []string
	if c.Enrolling() {
		enrol = []string{"enrolment after " + results.FormatSeconds(c.EnrolAfterS)}
	}
	return strings.Join(append(enrol,
		c.ProtocolName(),
		c.Placement,
		servicesText(c.Services),
		rateTitle(c),
		fmt.Sprintf("%d connections", c.Connections),
		results.FormatBytes(c.RequestBytes)+"/"+results.FormatBytes(c.ResponseBytes),
	), " · ")
}

// rateTitle names a point's rate: a search finds each case's own.
func rateTitle(c *results.Case) string {
	if results.IsSearch(*c) {
		return "rate search"
	}
	return strconv.FormatFloat(c.Rate, 'f', -1, 64) + " req/s"
}

func servicesText(n int) string {
	if n == 1 {
		return "1 service"
	}
	return fmt.Sprintf("%d services", n)
}

// allCharts lists every chart of the view in report order.
func (v *view) allCharts() []*chart {
	var out []*chart
	for _, s := range v.sections {
		out = append(out, s.charts...)
	}
	return append(out, v.rateCharts...)
}

func failed(c *results.Case) bool { return c.Status != "ok" }

// writeFile replaces path with data atomically: a report being rewritten
// is never seen half written.
func writeFile(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
