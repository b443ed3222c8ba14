package compare

import (
	"fmt"
	"html/template"
	"io"
)

var htmlTemplate = template.Must(template.New("compare").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; }
header { max-width: 1200px; margin: 0 auto; padding: 1em; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.worse { background: #fde2e1; font-weight: bold; }
td.better { background: #dcf5e3; }
td.noisy { background: #fff4cc; }
p.legend, ul { font-size: 13px; color: #444; }
.runs { display: flex; gap: 4px; }
.runs section { flex: 1; min-width: 0; }
.runs h2 { font-size: 15px; margin: 4px 8px; }
iframe { width: 100%; height: 90vh; border: 1px solid #ccc; box-sizing: border-box; }
main { max-width: 1200px; margin: 0 auto; padding: 0 1em; }
.overlays { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 0 1.5em; }
figure { margin: 1em 0; min-width: 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #444; }
details > summary { font-size: 15px; font-weight: bold; margin: 1em; cursor: pointer; }
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p>{{.Subtitle}}</p>
<table>
<tr><th>case</th>{{range .Headers}}<th class="num">{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Label}}</td>{{if .Failed}}<td class="worse" colspan="{{$.Span}}">{{.Failed}}</td>{{else}}{{range .Cells}}<td class="num {{.Class}}">{{.Text}}</td>{{end}}{{end}}</tr>
{{end}}</table>
<p class="legend">{{.Legend}}</p>
{{if .Lines}}<ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul>{{end}}
</header>
{{if .Overlays}}<main>
<h2>Latency, both runs on one axis</h2>
{{range .Overlays}}<h3>{{.Title}}</h3>
<div class="overlays">{{range .Charts}}<figure id="{{.ID}}">{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}</div>
{{end}}</main>
{{end}}<details{{if not .Overlays}} open{{end}}><summary>Both reports in full, side by side</summary>
<div class="runs">
<section><h2>Base: {{.BaseName}}</h2><iframe title="base report" srcdoc="{{.BaseHTML}}"></iframe></section>
<section><h2>Candidate: {{.CandidateName}}</h2><iframe title="candidate report" srcdoc="{{.CandidateHTML}}"></iframe></section>
</div>
</details>
</body>
</html>
`))

type htmlCompareCell struct{ Text, Class string }

type htmlCompareRow struct {
	Label, Failed string
	Cells         []htmlCompareCell
}

// OverlayPoint is the overlaid charts of one matrix point both runs have
// (package report draws them: report.Overlays).
type OverlayPoint struct {
	// Title names the point: "same-node · 1 service · 1000 req/s · …".
	Title  string
	Charts []Overlay
}

// Overlay is a chart that draws two runs on one axis, rendered as inline
// SVG for a comparison page.
type Overlay struct {
	// ID is unique on the page.
	ID string
	// Caption says how the runs are told apart.
	Caption string
	SVG     template.HTML
}

// WriteHTML writes one self-contained HTML page: the summary table of
// WriteMarkdown, coloured by verdict, the latency charts with both runs on
// one axis (overlays, as report.Overlays draws them), then the two runs'
// own reports side by side, each in a frame of its own. baseHTML and
// candHTML are those reports, as package report writes them.
func (r *Report) WriteHTML(w io.Writer, baseHTML, candHTML []byte, overlays []OverlayPoint) error {
	rows, lines := r.summaryTable()
	page := struct {
		Title, Subtitle, Legend string
		Headers                 []string
		Span                    int
		Rows                    []htmlCompareRow
		Lines                   []string
		BaseName, CandidateName string
		BaseHTML, CandidateHTML string
		Overlays                []OverlayPoint
	}{
		Title: r.title(), Subtitle: r.subtitle(func(s string) string { return s }), Legend: legend("red", "green", "yellow"),
		Span: len(markdownMetrics), Lines: lines,
		BaseName:      describeRun(r.Base.ID, r.Base.Scenario),
		CandidateName: describeRun(r.Candidate.ID, r.Candidate.Scenario),
		BaseHTML:      string(baseHTML), CandidateHTML: string(candHTML),
		Overlays: overlays,
	}
	for _, m := range markdownMetrics {
		page.Headers = append(page.Headers, m.header)
	}
	classes := map[Verdict]string{Worse: "worse", Better: "better", TooNoisy: "noisy"}
	for _, sr := range rows {
		hr := htmlCompareRow{Label: sr.Label, Failed: sr.Failed}
		for _, row := range sr.Rows {
			text, v := changeCell(row)
			hr.Cells = append(hr.Cells, htmlCompareCell{text, classes[v]})
		}
		page.Rows = append(page.Rows, hr)
	}
	if err := htmlTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	return nil
}
