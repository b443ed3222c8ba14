package report

import (
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/compare"
	"github.com/meshbench/meshbench/results/resultstest"
)

// TestOverlays draws the comparison charts of two runs: one spectrum per
// shared matrix point with every datapath of both runs told apart in its
// legend, and an over-time chart per case both ran, leaving out a case
// that failed in the candidate.
func TestOverlays(t *testing.T) {
	baseDir, candDir := t.TempDir(), t.TempDir()
	opts := resultstest.Options{Placements: []string{"same-node"}}
	opts.Dir = baseDir
	base := resultstest.Run(t, opts)
	opts.Dir = candDir
	cand := resultstest.Run(t, opts)
	broken := &cand.Cases[1]
	broken.Status, broken.Error = "failed", "verify datapath: redirect counter stayed at 0"

	overlays, err := Overlays(base, cand, baseDir, candDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(overlays) != 1 || overlays[0].Title != pointTitle(&base.Cases[0]) {
		t.Fatalf("overlays of %d points, want the one point %q", len(overlays), pointTitle(&base.Cases[0]))
	}
	var spectra, overTime []compare.Overlay
	for _, o := range overlays[0].Charts {
		switch {
		case strings.HasSuffix(o.ID, "-latency"):
			spectra = append(spectra, o)
		case strings.Contains(o.ID, "-time-"):
			overTime = append(overTime, o)
		default:
			t.Errorf("unexpected overlay %q", o.ID)
		}
	}
	if len(spectra) != 1 {
		t.Fatalf("%d spectrum overlays, want 1 (one matrix point)", len(spectra))
	}
	svg := string(spectra[0].SVG)
	for i, c := range base.Cases {
		label := results.DatapathLabel(&c)
		for _, run := range []string{"base", "candidate"} {
			entry := label + " · " + run
			if has := strings.Contains(svg, entry); has == (i == 1) {
				t.Errorf("spectrum legend has %q: %v, want %v", entry, has, i != 1)
			}
		}
	}
	if want := len(base.Cases) - 1; len(overTime) != want {
		t.Errorf("%d over-time overlays, want %d (every case but the failed one)", len(overTime), want)
	}
	for _, o := range overTime {
		for _, entry := range []string{"base (repetition 1) p99", "candidate (repetition 1) p50"} {
			if !strings.Contains(string(o.SVG), entry) {
				t.Errorf("%s: legend lacks %q", o.ID, entry)
			}
		}
	}

	// Without the run directories there are no samples to draw over time.
	overlays, err = Overlays(base, cand, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(overlays) != 1 || len(overlays[0].Charts) != 1 {
		t.Errorf("without samples: %+v, want the spectrum only", overlays)
	}
}
