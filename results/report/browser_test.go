package report

import (
	"bytes"
	"context"
	"flag"
	"image/png"
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
	"github.com/meshbench/meshbench/results"
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

// TestHTMLFitsWindow opens report.html of interrupted runs, one with a
// failed case and one with samples files (over-time charts), in a 1400 px
// wide window and checks that every column and figure is in view without
// scrolling sideways, and the partial banner shown.
func TestHTMLFitsWindow(t *testing.T) {
	bin := testutil.Chromium(t)
	runs := testRuns(t)
	samplesDir := t.TempDir()
	runs["samples"] = resultstest.Run(t, resultstest.Options{Dir: samplesDir})
	for name, run := range runs {
		t.Run(name, func(t *testing.T) {
			run.Partial, run.Interrupted, run.PlannedCases = true, true, len(run.Cases)+1
			dir := t.TempDir()
			if name == "samples" {
				dir = samplesDir
			}
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

// screenshotOf is a run directory whose report.html TestScreenshot
// photographs into docs/report.png, the README's picture:
//
//	go test ./results/report -run TestScreenshot -screenshot-of DIR
var screenshotOf = flag.String("screenshot-of", "", "run directory whose report.html TestScreenshot writes to docs/report.png")

// Screenshot size: the top of report.html in a 1400 px window (title,
// tables, the first charts).
const screenshotHeight = 2200

// TestScreenshot renders report.html in headless Chromium and takes a
// 1400 px wide screenshot of its top: of a synthetic run into the test's
// directory, or with -screenshot-of of that run into docs/report.png.
func TestScreenshot(t *testing.T) {
	bin := testutil.Chromium(t)
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "report.png")
	run := resultstest.Run(t, resultstest.Options{Dir: dir})
	if *screenshotOf != "" {
		var err error
		if run, err = results.Read(*screenshotOf); err != nil {
			t.Fatal(err)
		}
		dir, out = *screenshotOf, filepath.Join("..", "..", "docs", "report.png")
	}
	if err := WriteHTML(dir, run); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	ctx := browser(t, bin)
	page := "file://" + filepath.Join(dir, HTMLFile)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(pageWidth, screenshotHeight),
		chromedp.Navigate(page),
	); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != pageWidth || b.Dy() != screenshotHeight {
		t.Errorf("screenshot is %dx%d px, want %dx%d", b.Dx(), b.Dy(), pageWidth, screenshotHeight)
	}
	// A page that rendered has text and lines: many pixels that are not
	// the background's white.
	inked := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 4 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 4 {
			if r, g, b, _ := img.At(x, y).RGBA(); r < 0xc000 || g < 0xc000 || b < 0xc000 {
				inked++
			}
		}
	}
	if inked < 1000 {
		t.Errorf("screenshot has %d dark sample pixels, want a rendered page", inked)
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(shot))
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
