// Package status is the one progress printer of a run: a spinner with an
// optional progress bar on a terminal, plain lines otherwise. It writes to
// stderr so that stdout carries only results.
package status

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Printer shows one step at a time.
type Printer struct {
	w   io.Writer
	tty bool

	mu       sync.Mutex
	msg      string
	progress float64 // < 0: no bar
	started  time.Time
	stop     chan struct{}
	done     chan struct{}
}

// New returns a Printer writing to w; it animates only when w is a terminal.
func New(w io.Writer) *Printer {
	p := &Printer{w: w, progress: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// Discard is a Printer that prints nothing.
func Discard() *Printer { return &Printer{w: io.Discard, progress: -1} }

// Start begins a step; the previous one, if still open, ends as successful.
func (p *Printer) Start(msg string) {
	p.End(true)
	p.mu.Lock()
	p.msg, p.progress, p.started = msg, -1, time.Now()
	p.mu.Unlock()
	if !p.tty {
		fmt.Fprintf(p.w, " • %s ...\n", msg)
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

// Infof prints a line that stays, above the spinner.
func (p *Printer) Infof(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, "   "+format+"\n", args...)
}

// End closes the open step, if any, marking it done or failed.
func (p *Printer) End(ok bool) {
	p.mu.Lock()
	msg := p.msg
	p.msg = ""
	stop, done := p.stop, p.done
	p.stop, p.done = nil, nil
	elapsed := time.Since(p.started).Round(10 * time.Millisecond)
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
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, " %s %s (%s)\n", mark, msg, elapsed)
}

var frames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (p *Printer) spin(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		p.mu.Lock()
		line := fmt.Sprintf("\r\x1b[K %s %s", frames[i%len(frames)], p.msg)
		if p.progress >= 0 {
			const width = 30
			n := int(p.progress * width)
			line += fmt.Sprintf(" [%s%s] %3.0f%%", strings.Repeat("=", n), strings.Repeat(" ", width-n), p.progress*100)
		}
		fmt.Fprint(p.w, line)
		p.mu.Unlock()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
