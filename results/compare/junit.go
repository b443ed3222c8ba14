package compare

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// junitText is an element's text, written as CDATA so that line breaks
// stay line breaks.
type junitText struct {
	Text string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit writes the gate's verdict on r as JUnit XML, which CI systems
// render as a test report: one testcase per case and figure (classname the
// case, name the metric), failed for a regression, skipped for a figure no
// limit gates; a case's status, rate or missing figure that fails the gate
// is a testcase of its own. The warnings are the suite's system-out.
func (g *GateResult) WriteJUnit(w io.Writer, r *Report) error {
	type key struct{ id, metric string }
	failures := map[key][]string{}
	var order []key
	for _, v := range g.Violations {
		k := key{v.Case, v.Metric}
		if failures[k] == nil {
			order = append(order, k)
		}
		failures[k] = append(failures[k], v.Reason)
	}
	s := junitSuite{Name: "meshbench gate"}
	add := func(k key, skipped string) {
		c := junitCase{Name: k.metric, Classname: k.id}
		if reasons := failures[k]; reasons != nil {
			c.Failure = &junitFailure{Message: reasons[0], Type: "regression", Text: strings.Join(reasons, "\n")}
			delete(failures, k)
		} else if skipped != "" {
			c.Skipped = &junitSkipped{Message: skipped}
		}
		s.Cases = append(s.Cases, c)
	}
	for _, f := range r.Failed {
		skipped := ""
		if f.Base != "ok" && f.Candidate != "ok" {
			skipped = "failed in both runs"
		}
		add(key{f.Case, "status"}, skipped)
	}
	for _, row := range r.Rows {
		skipped := ""
		if l, ok := g.Limits[row.Metric]; !ok || l.Off() {
			skipped = "no limit on " + row.Metric
		}
		add(key{row.Case, row.Metric}, skipped)
	}
	for _, k := range order {
		if failures[k] != nil {
			add(k, "")
		}
	}
	for _, c := range s.Cases {
		switch {
		case c.Failure != nil:
			s.Failures++
		case c.Skipped != nil:
			s.Skipped++
		}
	}
	s.Tests = len(s.Cases)
	s.Properties = []junitProperty{
		{"base", r.Base.ID}, {"candidate", r.Candidate.ID}, {"limits", g.Limits.String()},
	}
	var out strings.Builder
	for _, wn := range g.Warnings {
		out.WriteString("warning: " + wn.String() + "\n")
	}
	if out.Len() > 0 {
		s.SystemOut = &junitText{out.String()}
	}
	doc := junitSuites{Name: "meshbench gate", Tests: s.Tests, Failures: s.Failures, Skipped: s.Skipped, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}
