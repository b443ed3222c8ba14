package report

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/resultstest"
)

func TestWindows(t *testing.T) {
	ms := int64(time.Millisecond)
	t0 := int64(1_700_000_000) * int64(time.Second)
	sample := func(at int64, latencyUS int, failed bool) results.Sample {
		s := results.Sample{Intended: t0 + at, Latency: time.Duration(latencyUS) * time.Microsecond, Code: 200}
		if failed {
			s.Code, s.Error = 0, "connection refused"
		}
		return s
	}
	var in []results.Sample
	// Window 0: latencies 1..100 µs, two failed; window 1 empty;
	// window 2: one request. Out of order, as agents may merge them.
	for i := 100; i >= 1; i-- {
		in = append(in, sample(int64(i-1)*ms/2, i, i == 7 || i == 8))
	}
	in = append(in, sample(250*ms, 500, false))
	got := windows(in)
	want := []window{
		{start: 0, p50: 50, p99: 99, errors: 2},
		{start: 0.2, p50: 500, p99: 500},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("windows = %+v, want %+v", got, want)
	}
	if windows(nil) != nil {
		t.Errorf("windows of no samples is not empty")
	}
}

// TestOverTimeCharts writes the reports of a run with samples files and
// checks that each case has its over-time chart, in report.md as a PNG at
// twice 96 dpi and in report.html as SVG.
func TestOverTimeCharts(t *testing.T) {
	dir := t.TempDir()
	run := resultstest.Run(t, resultstest.Options{Placements: []string{"same-node"}, Dir: dir})
	if err := WriteAll(dir, run); err != nil {
		t.Fatalf("WriteAll: %v", err)
	}
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range run.Cases {
		name := "point-1-time-" + string(rune('1'+i))
		link := "(charts/" + name + ".png)"
		if !bytes.Contains(md, []byte(link)) {
			t.Errorf("report.md lacks %s's over-time chart %s", c.ID, link)
			continue
		}
		f, err := os.Open(filepath.Join(dir, ChartsDir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s.png: %v", name, err)
		}
		if want := 7 * 96 * pngScale; cfg.Width != want {
			t.Errorf("%s.png is %d px wide, want %d (7 in at %d× 96 dpi)", name, cfg.Width, want, pngScale)
		}
		if !strings.Contains(string(page), `id="`+name+`"><svg`) {
			t.Errorf("report.html lacks %s as inline SVG", name)
		}
	}
	if !bytes.Contains(md, []byte("latency over time")) {
		t.Errorf("report.md has no over-time chart title")
	}
}
