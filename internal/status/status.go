// Package status is the one progress printer of a run. It shows one step
// at a time and, for a run of several cases, which case of how many runs and
// about how long the rest will take. While a step sends requests (Record),
// a terminal also shows their live achieved rate, p99 latency and errors,
// and every step that sent any ends with their count, p99 and errors. On a
// terminal the open step is one animated line fitted to its width;
// otherwise every event is a plain line of its own, for logs. It writes to
// stderr so that stdout carries only results.
package status

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/term"
)

// Printer shows one step at a time.
type Printer struct {
	w   io.Writer
	tty int // the terminal's file descriptor; -1 when w is not one

	mu       sync.Mutex
	msg      string
	progress float64 // < 0: no bar
	started  time.Time
	reqs     requests
	run      runProgress
	stop     chan struct{}
	done     chan struct{}
}

// New returns a Printer writing to w; it animates only when w is a terminal.
func New(w io.Writer) *Printer {
	p := &Printer{w: w, tty: -1, progress: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = int(f.Fd())
	}
	return p
}

// Discard is a Printer that prints nothing.
func Discard() *Printer { return &Printer{w: io.Discard, tty: -1, progress: -1} }

// Case says that case i (from 1) of n, named id, begins, with how long the
// run has taken and, from the second case on, about how long the rest will
// take at the pace of the cases before.
func (p *Printer) Case(i, n int, id string) {
	p.End(true)
	p.mu.Lock()
	now := time.Now()
	if p.run.begun.IsZero() {
		p.run.begun = now
	}
	p.run.i, p.run.n, p.run.caseBegun = i, n, now
	line := fmt.Sprintf("case %d/%d: %s", i, n, id)
	if i > 1 {
		line += fmt.Sprintf(" (%s so far, %s)", roundDuration(now.Sub(p.run.begun)), p.run.eta(now))
	}
	p.mu.Unlock()
	p.Infof("%s", line)
}

// Start begins a step; the previous one, if still open, ends as successful.
func (p *Printer) Start(msg string) {
	p.End(true)
	p.mu.Lock()
	p.msg, p.progress, p.started = msg, -1, time.Now()
	p.reqs.reset()
	p.mu.Unlock()
	if p.tty < 0 {
		fmt.Fprintf(p.w, " %s %s ...\n", strings.Repeat(" ", elapsedWidth+2), msg)
		return
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.spin(p.stop, p.done)
}

// Progress sets the open step's completed fraction (0..1).
func (p *Printer) Progress(frac float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.progress = min(max(frac, 0), 1)
}

// Record adds one finished request of the open step: its latency, and
// whether it failed.
func (p *Printer) Record(latency time.Duration, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs.record(latency, failed)
}

// Infof prints a line that stays, above the spinner.
func (p *Printer) Infof(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty >= 0 {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, "   "+format+"\n", args...)
}

// End closes the open step, if any, marking it done or failed, with how
// long it took and what its requests saw.
func (p *Printer) End(ok bool) {
	p.mu.Lock()
	msg := p.msg
	p.msg = ""
	stop, done := p.stop, p.done
	p.stop, p.done = nil, nil
	elapsed := time.Since(p.started)
	summary := p.reqs.summary()
	p.mu.Unlock()
	if msg == "" {
		return
	}
	if stop != nil {
		close(stop)
		<-done
	}
	mark := "✓"
	if !ok {
		mark = "✗"
	}
	if p.tty >= 0 {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	if summary != "" {
		msg += ": " + summary
	}
	fmt.Fprintf(p.w, " %s %*s %s\n", mark, elapsedWidth, roundDuration(elapsed), msg)
}

// elapsedWidth is the width of the column that says how long a step took.
const elapsedWidth = 7

var frames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (p *Printer) spin(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		p.mu.Lock()
		fmt.Fprint(p.w, "\r\x1b[K"+fit(p.line(frames[i%len(frames)], time.Now()), p.width()))
		p.mu.Unlock()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// line is the open step's live line: spinner, elapsed time, step, bar,
// live request figures and the run's progress.
func (p *Printer) line(frame string, now time.Time) string {
	elapsed := now.Sub(p.started)
	line := fmt.Sprintf(" %s %*s %s", frame, elapsedWidth, roundDuration(elapsed), p.msg)
	if p.progress >= 0 {
		const width = 20
		n := int(p.progress * width)
		line += fmt.Sprintf(" [%s%s] %3.0f%%", strings.Repeat("=", n), strings.Repeat(" ", width-n), p.progress*100)
	}
	if live := p.reqs.live(elapsed); live != "" {
		line += "  " + live
	}
	if p.run.n > 1 {
		line += fmt.Sprintf("  · case %d/%d", p.run.i, p.run.n)
		if p.run.i > 1 {
			line += ", " + p.run.eta(now)
		}
	}
	return line
}

// width is the terminal's width in columns, 80 if unknown.
func (p *Printer) width() int {
	if w, _, err := term.GetSize(p.tty); err == nil && w > 0 {
		return w
	}
	if w, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && w > 0 {
		return w
	}
	return 80
}

// fit cuts line to fewer than width columns, so that it never wraps and
// the next \r rewrites all of it.
func fit(line string, width int) string {
	if utf8.RuneCountInString(line) < width {
		return line
	}
	r := []rune(line)
	return string(r[:max(width-2, 0)]) + "…"
}

// runProgress is where the run is: case i of n; the run began at begun,
// case i at caseBegun.
type runProgress struct {
	begun, caseBegun time.Time
	i, n             int
}

// eta says about how long the run will take from now, at the mean pace of
// the cases before i.
func (r runProgress) eta(now time.Time) string {
	done := r.i - 1
	if done < 1 {
		return ""
	}
	perCase := r.caseBegun.Sub(r.begun) / time.Duration(done)
	left := max(perCase*time.Duration(r.n-done)-now.Sub(r.caseBegun), 0)
	return "about " + roundDuration(left).String() + " left"
}

// requests are the figures of the open step's requests.
type requests struct {
	n, failed int
	hist      *hdrhistogram.Histogram // latency in µs
}

func (q *requests) reset() { q.n, q.failed, q.hist = 0, 0, nil }

func (q *requests) record(latency time.Duration, failed bool) {
	if q.hist == nil {
		// 1 µs to 10 min at 3 significant digits, as the results keep them.
		q.hist = hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)
	}
	q.n++
	if failed {
		q.failed++
	}
	us := min(max(latency.Microseconds(), 1), q.hist.HighestTrackableValue())
	_ = q.hist.RecordValue(us) // within the histogram's range: no error
}

// live is the live line of requests that arrived over elapsed: achieved
// rate, p99 and errors.
func (q *requests) live(elapsed time.Duration) string {
	if q.n == 0 || elapsed <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f req/s  p99 %s  %s", float64(q.n)/elapsed.Seconds(), q.p99(), errorCount(q.failed))
}

// summary is what the step's requests saw, for its last line.
func (q *requests) summary() string {
	if q.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d requests, p99 %s, %s", q.n, q.p99(), errorCount(q.failed))
}

func (q *requests) p99() time.Duration {
	return roundDuration(time.Duration(q.hist.ValueAtQuantile(99)) * time.Microsecond)
}

func errorCount(n int) string {
	if n == 1 {
		return "1 error"
	}
	return strconv.Itoa(n) + " errors"
}

// roundDuration keeps three significant digits, or whole seconds from a
// minute on: 1.23ms, 12.3s, 2m5s.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
