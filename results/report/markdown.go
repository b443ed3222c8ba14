package report

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshbench/meshbench/results"
)

// WriteMarkdown writes report.md into dir, with its charts as PNG files
// under dir/charts. run is not modified.
func WriteMarkdown(dir string, run *results.Run) error {
	v, err := newView(dir, run, true)
	if err != nil {
		return err
	}
	return v.writeMarkdown(dir)
}

func (v *view) writeMarkdown(dir string) error {
	charts := v.allCharts()
	if len(charts) > 0 {
		if err := os.Mkdir(filepath.Join(dir, ChartsDir), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write report: %w", err)
		}
	}
	for _, c := range charts {
		png, err := c.render("png")
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		if err := writeFile(filepath.Join(dir, ChartsDir, c.name+".png"), png); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if err := writeFile(filepath.Join(dir, MarkdownFile), v.markdown()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// markdown renders report.md; charts are linked as charts/<name>.png.
func (v *view) markdown() []byte {
	var b bytes.Buffer
	r := v.run
	esc := results.MarkdownText
	fmt.Fprintf(&b, "# meshbench: %s\n\n", esc(r.Scenario))
	fmt.Fprintf(&b, "Run %s, %s, %d cases on provider %s.\n\n", esc(r.ID), r.StartedAt.UTC().Format(time.RFC3339), len(r.Cases), esc(r.Provider))
	if note := r.PartialNote(); note != "" {
		fmt.Fprintf(&b, "**%s**\n\n", note)
	}
	for _, t := range v.tables() {
		fmt.Fprintf(&b, "## %s\n\n", t.title)
		for _, part := range t.table.Fold(results.MarkdownWidth, results.MarkdownPadding) {
			_ = part.WriteMarkdown(&b) // a bytes.Buffer does not fail
		}
	}
	for _, s := range v.sections {
		fmt.Fprintf(&b, "## %s\n\n", esc(s.title))
		for _, c := range s.charts {
			fmt.Fprintf(&b, "![%s](%s/%s.png)\n\n", esc(c.title), ChartsDir, c.name)
			if c.caption != "" {
				fmt.Fprintf(&b, "%s\n\n", esc(c.caption))
			}
		}
		for _, c := range s.cases {
			if c.Path == nil || len(c.Path.Trace) == 0 {
				continue
			}
			trace := strings.Join(c.Path.Trace, "\n")
			fence := codeFence(trace)
			fmt.Fprintf(&b, "Packet path of one request, %s (%s hops per request):\n\n%s\n%s\n%s\n\n",
				esc(results.DatapathLabel(c)), results.FormatNumber(c.Path.HopsPerRequest), fence, trace, fence)
		}
	}
	if len(v.rateCharts) > 0 {
		fmt.Fprintf(&b, "## Latency vs request rate\n\n")
		for _, c := range v.rateCharts {
			fmt.Fprintf(&b, "![%s](%s/%s.png)\n\n", c.title, ChartsDir, c.name)
		}
	}
	fmt.Fprintf(&b, "## Environment\n\n| | |\n|---|---|\n")
	for _, kv := range environment(r) {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], esc(kv[1]))
	}
	return b.Bytes()
}

// codeFence returns a fence of backticks longer than any run of backticks
// in text, so that the text cannot end its code block.
func codeFence(text string) string {
	longest, run := 0, 0
	for _, r := range text {
		if r != '`' {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return strings.Repeat("`", max(3, longest+1))
}

// environment lists where and what ran, for the reports' environment block.
func environment(r *results.Run) [][2]string {
	e := r.Environment
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	duration := "-"
	if !r.StartedAt.IsZero() && r.FinishedAt.After(r.StartedAt) {
		duration = r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
	}
	return [][2]string{
		{"scenario", orDash(r.Scenario)},
		{"scenario hash", orDash(r.ScenarioHash)},
		{"run", orDash(r.ID)},
		{"provider", orDash(r.Provider)},
		{"started", r.StartedAt.UTC().Format(time.RFC3339)},
		{"duration", duration},
		{"kernel", orDash(e.Kernel)},
		{"CPU", fmt.Sprintf("%s × %d", orDash(e.CPUModel), e.CPUs)},
		{"memory", results.FormatMemory(float64(e.MemoryBytes))},
		{"Go", orDash(e.GoVersion)},
		{"meshbench", orDash(e.MeshbenchVersion)},
		{"git commit", orDash(e.GitCommit)},
		{"host", orDash(e.Hostname)},
		{"agent binary", orDash(e.AgentBinary)},
		{"gate", orDash(gateString(r.Gate))},
	}
}

func gateString(g map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(g)) {
		parts = append(parts, k+"="+g[k])
	}
	return strings.Join(parts, ",")
}
