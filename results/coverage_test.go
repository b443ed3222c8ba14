package results

import (
	"slices"
	"strings"
	"testing"
)

func TestCoverageTable(t *testing.T) {
	if CoverageTable([]Case{{ID: "a", Datapath: "none", Status: "ok"}}) != nil {
		t.Fatal("a table without any coverage block")
	}
	all, none := uint64(100), uint64(0)
	cases := []Case{
		{ID: "none", Datapath: "none", Status: "ok", Coverage: &Coverage{Reason: "datapath none has no per-source counters", Sources: []SourceCoverage{
			{Source: SourceMeshed, Sent: 100, Succeeded: 100},
		}}},
		{ID: "sidecar", Datapath: "sidecar", Mode: "l4", Status: "ok", Coverage: &Coverage{Counted: true, Reach: "redirect rules in injected pods", Sources: []SourceCoverage{
			{Source: SourceMeshed, Sent: 100, Succeeded: 100, Through: &all, Encrypted: &none, Observable: &all, Connections: 4, DatapathConnections: 4},
			{Source: SourceMislabelled, Sent: 100, Succeeded: 100, Through: &none, Encrypted: &none, Observable: &none, Connections: 3, Note: "missed"},
		}}},
	}
	tab := CoverageTable(cases)
	want := [][]string{
		{"none", "meshed", "100", "100 (100%)", "not counted", "not counted", "not counted", "-"},
		{"sidecar (l4)", "meshed", "100", "100 (100%)", "100 (100%)", "0 (0%)", "100 (100%)", "4 of 4"},
		{"sidecar (l4)", "mislabelled", "100", "100 (100%)", "0 (0%)", "0 (0%)", "0 (0%)", "0 of 3"},
	}
	if len(tab.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(tab.Rows), len(want), tab.Rows)
	}
	for i, w := range want {
		if got := tab.Rows[i][tab.Point:]; !slices.Equal(got, w) {
			t.Errorf("row %d = %q, want %q", i, got, w)
		}
	}
	notes := strings.Join(tab.Notes, "\n")
	for _, w := range []string{"none: not counted: datapath none has no per-source counters.", "sidecar (l4), mislabelled: missed.", "sidecar (l4) reaches by redirect rules in injected pods."} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	if got := cases[1].MinCoverage(); got == nil || *got != 0 {
		t.Errorf("MinCoverage = %v, want 0", got)
	}
	if got := cases[0].MinCoverage(); got != nil {
		t.Errorf("MinCoverage of an uncounted case = %v, want nil", *got)
	}
}
