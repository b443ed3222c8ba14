package report

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results/resultstest"
)

// figureSize is what the page reports for one figure's SVG.
type figureSize struct {
	ID       string  `json:"id"`
	Width    float64 `json:"width"`
	Height   float64 `json:"height"`
	Elements int     `json:"elements"`
}

// measureFigures lists every figure's SVG with its rendered size and how
// many shapes and texts it drew, and the number of figures the page says it
// has.
const measureFigures = `({
	expected: Number(document.body.dataset.figures),
	figures: Array.from(document.querySelectorAll("figure.figure svg")).map(svg => {
		const r = svg.getBoundingClientRect();
		return {
			id: svg.closest("figure").id,
			width: r.width,
			height: r.height,
			elements: svg.querySelectorAll("path, line, rect, text, polyline").length,
		};
	}),
})`

// TestHTMLRendersInChromium opens report.html in headless Chromium and
// checks that every chart and path diagram rendered with a non-zero size
// and that the page fetched nothing.
func TestHTMLRendersInChromium(t *testing.T) {
	bin := testutil.Chromium(t)
	dir := t.TempDir()
	run := resultstest.Run(t, resultstest.Options{Rates: []float64{500, 2000}, Dir: dir})
	if err := WriteHTML(dir, run); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	page := "file://" + filepath.Join(dir, HTMLFile)

	ctx := browser(t, bin)
	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start Chromium (%s): %v", bin, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Expected int          `json:"expected"`
		Figures  []figureSize `json:"figures"`
	}](measureFigures))
	if err != nil {
		t.Fatalf("measure figures: %v", err)
	}

	// 2 placements × 2 rates = 4 points, each with spectrum, memory, cpu
	// and path charts, 4 over-time charts and 4 path diagrams, then a
	// latency-vs-rate chart per placement.
	const want = 4*(4+4+4) + 2
	if got.Expected != want || len(got.Figures) != want {
		t.Errorf("page has %d figures and says it has %d, want %d", len(got.Figures), got.Expected, want)
	}
	for _, f := range got.Figures {
		if f.Width <= 0 || f.Height <= 0 || f.Elements < 10 {
			t.Errorf("figure %s rendered %gx%g px with %d elements, want a visible chart", f.ID, f.Width, f.Height, f.Elements)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, u := range requests {
		if !strings.HasPrefix(u, "file://") {
			t.Errorf("report.html fetched %s", u)
		}
	}
	t.Logf("%d figures rendered; requests: %s", len(got.Figures), strconv.Quote(strings.Join(requests, " ")))
}

// pageWidth is the browser window's width, a laptop's: every report
// must fit it.
const pageWidth = 1400

// browser starts headless Chromium bin with a pageWidth-wide window for
// the test and returns its context, cancelled at the test's end.
func browser(tb testing.TB, bin string) context.Context {
	tb.Helper()
	profile, tmp := browserDirs(tb)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		// Chromium puts its singleton socket under TMPDIR: keep it in
		// the test's directory, which the cleanup removes.
		chromedp.Env("TMPDIR="+tmp),
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(pageWidth, 1000),
	)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// measureOverflow lists what does not fit the window: the page scrolling
// sideways, an element scrolling its content sideways, a table or figure
// reaching past the window's right edge.
const measureOverflow = `(() => {
	const out = [];
	const de = document.documentElement;
	if (de.scrollWidth > window.innerWidth) {
		out.push("page: " + de.scrollWidth + " px wide in a " + window.innerWidth + " px window");
	}
	for (const e of document.querySelectorAll("body *")) {
		const name = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className : "");
		if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "visible") {
			out.push(name + ": scrolls sideways, " + e.scrollWidth + " px of content in " + e.clientWidth + " px");
		}
		if (e.matches("table, figure, svg") && e.getBoundingClientRect().right > window.innerWidth + 0.5) {
			out.push(name + ": right edge at " + e.getBoundingClientRect().right + " px");
		}
	}
	return out;
})()`

// TestHTMLFitsWindow opens report.html of a run with a failed case,
// interrupted, in a 1400 px wide window and checks that every column and
// figure is in view without scrolling sideways.
func TestHTMLFitsWindow(t *testing.T) {
	bin := testutil.Chromium(t)
	for name, run := range testRuns(t) {
		t.Run(name, func(t *testing.T) {
			run.Partial, run.Interrupted, run.PlannedCases = true, true, len(run.Cases)+1
			dir := t.TempDir()
			if err := WriteHTML(dir, run); err != nil {
				t.Fatalf("WriteHTML: %v", err)
			}
			ctx := browser(t, bin)
			page := "file://" + filepath.Join(dir, HTMLFile)
			if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
				t.Fatalf("open %s: %v", page, err)
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](measureOverflow))
			if err != nil {
				t.Fatalf("measure overflow: %v", err)
			}
			for _, o := range got {
				t.Errorf("at %d px: %s", pageWidth, o)
			}
			banner, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".partial")?.innerText ?? ""`))
			if err != nil {
				t.Fatalf("read banner: %v", err)
			}
			if !strings.Contains(banner, run.PartialNote()) {
				t.Errorf("the partial banner reads %q, want %q", banner, run.PartialNote())
			}
		})
	}
}

// browserDirs returns an empty profile directory and a temporary
// directory for Chromium, removed after the test: retried, because
// Chromium's helpers can still write there for a moment after the browser
// exits.
func browserDirs(tb testing.TB) (profile, tmp string) {
	tb.Helper()
	dir, err := os.MkdirTemp("", "meshbench-chromium-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		tb.Errorf("remove Chromium directories %s", dir)
	})
	profile, tmp = filepath.Join(dir, "profile"), filepath.Join(dir, "tmp")
	for _, d := range []string{profile, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	return profile, tmp
}
