package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshbench/meshbench/results"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Parse(htmlSource))

// WriteHTML writes report.html into dir: one self-contained file, its
// charts inline SVG, no script and nothing fetched from the network. run is
// not modified.
func WriteHTML(dir string, run *results.Run) error {
	v, err := newView(dir, run, true)
	if err != nil {
		return err
	}
	return v.writeHTML(dir)
}

// htmlPage is what the template renders.
type htmlPage struct {
	// Partial is the partial-run banner, "" for a complete run.
	Partial         string
	Title, Subtitle string
	Figures         int // charts and path diagrams, for tests
	Tables          []htmlTable
	Sections        []htmlSection
	RateCharts      []htmlFigure
	Environment     [][2]string
}

// htmlTable is one of the report's tables, in the parts it folded into.
type htmlTable struct {
	ID, Title string
	Parts     []htmlPart
	Notes     []string
}

type htmlPart struct {
	Header []htmlCell
	Rows   []htmlRow
}

// htmlRow is a table row; a failed case's is set apart.
type htmlRow struct {
	Failed bool
	Cells  []htmlCell
}

type htmlCell struct {
	Text   string
	Number bool
}

type htmlSection struct {
	ID, Title string
	Charts    []htmlFigure
	Paths     []htmlFigure
}

type htmlFigure struct {
	ID, Caption string
	SVG         template.HTML
}

func (v *view) writeHTML(dir string) error {
	page, err := v.htmlPage()
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, page); err != nil {
		return fmt.Errorf("write report: render HTML: %w", err)
	}
	if err := writeFile(filepath.Join(dir, HTMLFile), b.Bytes()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (v *view) htmlPage() (*htmlPage, error) {
	r := v.run
	p := &htmlPage{
		Title:       "meshbench: " + r.Scenario,
		Subtitle:    fmt.Sprintf("Run %s, %s, %d cases on provider %s.", r.ID, r.StartedAt.UTC().Format(time.RFC3339), len(r.Cases), r.Provider),
		Environment: environment(r),
		Partial:     r.PartialNote(),
	}
	for _, t := range v.tables() {
		p.Tables = append(p.Tables, htmlTableOf(t))
	}
	for _, s := range v.sections {
		hs := htmlSection{ID: s.anchor, Title: s.title}
		for _, c := range s.charts {
			f, err := svgFigure(c)
			if err != nil {
				return nil, err
			}
			hs.Charts = append(hs.Charts, f)
		}
		for i, c := range s.cases {
			if c.Path == nil || len(c.Path.Trace) == 0 && len(c.Path.Steps) == 0 {
				continue
			}
			id := fmt.Sprintf("%s-trace-%d", s.anchor, i+1)
			title := fmt.Sprintf("%s: packet path of one request, %s hops per request on average", results.DatapathLabel(c), results.FormatNumber(c.Path.HopsPerRequest))
			hs.Paths = append(hs.Paths, htmlFigure{ID: id, SVG: template.HTML(pathDiagram(id+"-svg", title, c.Path))})
		}
		p.Figures += len(hs.Charts) + len(hs.Paths)
		p.Sections = append(p.Sections, hs)
	}
	for _, c := range v.rateCharts {
		f, err := svgFigure(c)
		if err != nil {
			return nil, err
		}
		p.RateCharts = append(p.RateCharts, f)
	}
	p.Figures += len(p.RateCharts)
	return p, nil
}

// svgFigure renders a chart as inline SVG, without the XML prolog a
// standalone SVG file has.
func svgFigure(c *chart) (htmlFigure, error) {
	svg, err := c.render("svg")
	if err != nil {
		return htmlFigure{}, err
	}
	s := string(svg)
	i := strings.Index(s, "<svg")
	if i < 0 {
		return htmlFigure{}, fmt.Errorf("render chart %s: no <svg> element in the SVG output", c.name)
	}
	// gonum's SVG escapes the text it draws, so the markup is safe to
	// inline.
	return htmlFigure{ID: c.name, Caption: c.caption, SVG: template.HTML(s[i:])}, nil
}

// htmlWidth is how many characters of table text, padding included, fit
// report.html's 1168 px column: its 13.6 px table text is about 7.5 px a
// character, a cell's 16 px of padding about 3 (TerminalPadding). The
// Chromium test checks that the tables fit a 1400 px window.
const htmlWidth = 150

// htmlTableOf lays out a table for report.html, folded to htmlWidth.
func htmlTableOf(t titledTable) htmlTable {
	parts := t.table.Fold(htmlWidth, results.TerminalPadding)
	h := htmlTable{ID: t.id, Title: t.title, Notes: parts[len(parts)-1].Notes}
	for _, part := range parts {
		var hp htmlPart
		for i, name := range part.Header {
			hp.Header = append(hp.Header, htmlCell{name, part.Number[i]})
		}
		for ri, r := range part.ShownRows() {
			row := htmlRow{Failed: ri < len(part.Failed) && part.Failed[ri]}
			for i, c := range r {
				row.Cells = append(row.Cells, htmlCell{c, part.Number[i]})
			}
			hp.Rows = append(hp.Rows, row)
		}
		h.Parts = append(h.Parts, hp)
	}
	return h
}
