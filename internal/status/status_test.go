package status

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPlainLines checks the lines a run prints when stderr is not a
// terminal: the step, its time in a column of its own, what its requests
// saw, and the case lines with the run's progress.
func TestPlainLines(t *testing.T) {
	var b strings.Builder
	p := New(&b)
	p.Case(1, 3, "none/a")
	p.Start("Warming up for 1s")
	p.End(true)
	p.Start("Measuring 1000 req/s for 2s, repetition 1/1")
	for _, ms := range []int{1, 2, 3, 4} {
		p.Record(time.Duration(ms)*time.Millisecond, ms == 4)
	}
	p.End(false)
	p.Case(2, 3, "none/b")
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^   case 1/3: none/a$`),
		regexp.MustCompile(`^ {11}Warming up for 1s \.\.\.$`),
		regexp.MustCompile(`^ ✓ +[0-9.]+[µnm]?s Warming up for 1s$`),
		regexp.MustCompile(`^ {11}Measuring 1000 req/s for 2s, repetition 1/1 \.\.\.$`),
		regexp.MustCompile(`^ ✗ +[0-9.]+[µnm]?s Measuring 1000 req/s for 2s, repetition 1/1: 4 requests, p99 4ms, 1 error$`),
		regexp.MustCompile(`^   case 2/3: none/b \([0-9.]+[µnm]?s so far, about [0-9.]+[µnm]?s left\)$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d:\n got: %q\nwant: %s", i+1, lines[i], re)
		}
	}
}

// TestLiveLine checks the terminal's live line: elapsed time, step, bar,
// achieved rate, p99, errors and where the run is.
func TestLiveLine(t *testing.T) {
	p := Discard()
	begun := time.Unix(1000, 0)
	// Two cases took 40 s: three more take about 60 s, 2 s of them gone.
	p.run = runProgress{begun: begun, caseBegun: begun.Add(40 * time.Second), i: 3, n: 5}
	p.msg, p.started, p.progress = "Measuring 100 req/s for 2s, repetition 1/1", begun.Add(40*time.Second), 0.5
	for i := range 100 {
		p.Record(time.Duration(i+1)*time.Millisecond, i >= 98)
	}
	got := p.line("⠋", begun.Add(42*time.Second))
	want := " ⠋      2s Measuring 100 req/s for 2s, repetition 1/1 [==========          ]  50%  50 req/s  p99 99ms  2 errors  · case 3/5, about 58s left"
	if got != want {
		t.Errorf("live line:\n got: %q\nwant: %q", got, want)
	}
}

func TestFit(t *testing.T) {
	tests := []struct {
		line  string
		width int
		want  string
	}{
		{"short", 80, "short"},
		{"⠋ exactly", 9, "⠋ exact…"},
		{"abcdef", 4, "ab…"},
	}
	for _, tt := range tests {
		if got := fit(tt.line, tt.width); got != tt.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tt.line, tt.width, got, tt.want)
		}
	}
}
