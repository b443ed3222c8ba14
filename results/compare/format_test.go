package compare

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/resultstest"
)

// partialComparison compares a full run with a rerun of three datapaths
// in which the mesh datapaths' p99 doubled and a hop was added, ebpf's
// p999 alone rose, and one case failed: what a pull request's gate sees.
func partialComparison(tb testing.TB) *Report {
	tb.Helper()
	base := resultstest.Run(tb, resultstest.Options{})
	base.ID = "base1"
	cand := resultstest.Run(tb, resultstest.Options{Datapaths: []string{"none", "sidecar", "ebpf"}})
	cand.ID = "cand1"
	doctor(cand, func(c *results.Case) bool { return c.Datapath == "sidecar" })
	for i := range cand.Cases {
		c := &cand.Cases[i]
		if c.Datapath != "ebpf" {
			continue
		}
		for j := range c.Repetitions {
			c.Repetitions[j].LatencyUS.P999 *= 1.5
		}
		c.LatencyUS.P999 *= 1.5
	}
	last := &cand.Cases[len(cand.Cases)-1]
	last.Status, last.Error = "failed", "verify datapath: redirect counter stayed at 0"
	return mustCompare(tb, base, cand)
}

func TestReportFormatsGolden(t *testing.T) {
	r := partialComparison(t)
	for _, tt := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"text", func(b *bytes.Buffer) error { return r.Write(b) }},
		{"markdown", func(b *bytes.Buffer) error { return r.WriteMarkdown(b) }},
		{"json", func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.write(&b); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", "compare-partial."+tt.name+".golden"), b.Bytes())
		})
	}
}

// TestMarkdownFitsPage checks what a pull-request comment needs: one
// table, rows no wider than a GitHub page shows without scrolling, every
// case present, and the worsened figures marked.
func TestMarkdownFitsPage(t *testing.T) {
	r := partialComparison(t)
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	tables := 0
	for line := range strings.Lines(md) {
		if strings.HasPrefix(line, "|---") {
			tables++
		}
		if strings.HasPrefix(line, "|") && len([]rune(line)) > 120 {
			t.Errorf("table row of %d characters, more than a page width: %s", len([]rune(line)), line)
		}
	}
	if tables != 1 {
		t.Errorf("%d tables, want 1", tables)
	}
	for _, want := range []string{"| sidecar/same-node |", "| ebpf/cross-node | ok in base, failed in candidate", markWorse + " +", "Also worse: p999 of 1 case (ebpf)", "Left out: 2 cases (nodeproxy 2) only in base"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestGateJSONAndJUnit(t *testing.T) {
	r := partialComparison(t)
	g := Gate(r, mustLimits(t, DefaultLimits))
	var js bytes.Buffer
	if err := g.WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK         bool
		Cases      int
		Limits     map[string]string
		Violations []struct{ Case, Metric, Reason string }
		Warnings   []struct {
			Message string
			Cases   []string
		}
		Comparison struct {
			OnlyInBase []string `json:"only_in_base"`
		}
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("gate JSON does not decode: %v\n%s", err, js.String())
	}
	if got.OK || got.Cases != 6 || len(got.Violations) != len(g.Violations) || got.Limits["hops"] != "0" || len(got.Comparison.OnlyInBase) != 2 {
		t.Errorf("gate JSON: ok %v, cases %d, %d violations (want %d), limits %v, only in base %v", got.OK, got.Cases, len(got.Violations), len(g.Violations), got.Limits, got.Comparison.OnlyInBase)
	}

	var x bytes.Buffer
	if err := g.WriteJUnit(&x, r); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(x.Bytes(), &suites); err != nil {
		t.Fatalf("JUnit does not decode: %v\n%s", err, x.String())
	}
	s := suites.Suites[0]
	failures := 0
	seen := map[string]bool{}
	for _, c := range s.Cases {
		k := c.Classname + " " + c.Name
		if seen[k] {
			t.Errorf("testcase %s twice", k)
		}
		seen[k] = true
		if c.Failure != nil {
			failures++
		}
	}
	// Every violation is a failure of its own testcase, except when two
	// hit one case and metric.
	if failures != len(g.Violations) || s.Failures != failures || suites.Failures != failures {
		t.Errorf("%d failed testcases (suite says %d, total %d), want %d violations", failures, s.Failures, suites.Failures, len(g.Violations))
	}
	if len(s.Cases) != len(r.Rows)+len(r.Failed) || s.Tests != len(s.Cases) {
		t.Errorf("%d testcases (tests=%d), want one per row (%d) and per failed case (%d)", len(s.Cases), s.Tests, len(r.Rows), len(r.Failed))
	}
	if !seen["ebpf/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024 status"] || (s.SystemOut == nil || !strings.Contains(s.SystemOut.Text, "only in base")) {
		t.Errorf("JUnit lacks the failed case's status testcase or the warnings:\n%s", x.String())
	}
	testutil.Golden(t, filepath.Join("testdata", "gate-partial.junit.golden"), x.Bytes())
}

func TestWriteHTML(t *testing.T) {
	r := partialComparison(t)
	var b bytes.Buffer
	base, cand := []byte(`<html><body>base "report" & more</body></html>`), []byte(`<p>candidate report</p>`)
	if err := r.WriteHTML(&b, base, cand, nil); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		`srcdoc="&lt;html&gt;&lt;body&gt;base &#34;report&#34; &amp; more&lt;/body&gt;&lt;/html&gt;"`,
		`srcdoc="&lt;p&gt;candidate report&lt;/p&gt;"`,
		`<td>sidecar/same-node</td>`, `<td class="num worse">&#43;100%</td>`,
		`<td class="worse" colspan="9">ok in base, failed in candidate</td>`,
		"Left out: 2 cases (nodeproxy 2) only in base, not compared.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if strings.Count(page, "<iframe") != 2 || strings.Contains(page, "<script") || strings.Contains(page, "http") {
		t.Errorf("want two frames, no script and nothing fetched:\n%s", page)
	}
	if !strings.Contains(page, "<details open>") {
		t.Error("without overlays the side-by-side reports are not shown open")
	}

	b.Reset()
	overlay := OverlayPoint{Title: "same-node · 1 service", Charts: []Overlay{{ID: "compare-point-1-latency", Caption: "base dashed", SVG: `<svg id="s"></svg>`}}}
	if err := r.WriteHTML(&b, base, cand, []OverlayPoint{overlay}); err != nil {
		t.Fatal(err)
	}
	page = b.String()
	for _, want := range []string{
		`<h3>same-node · 1 service</h3>`,
		`<figure id="compare-point-1-latency"><svg id="s"></svg><figcaption>base dashed</figcaption></figure>`,
		"<details><summary>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page with an overlay lacks %s:\n%s", want, page)
		}
	}
}

func TestMetricsHaveUnits(t *testing.T) {
	for _, m := range metrics {
		if m.unit == "" || m.what == "" {
			t.Errorf("metric %s: unit %q, what %q; JSON readers and gate --help need both", m.name, m.unit, m.what)
		}
	}
}
