package results

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/meshbench/meshbench/internal/testutil"
)

func tableCase(datapath, placement string, rate, p50 float64) Case {
	return Case{
		ID:        datapath + "/" + placement,
		Datapath:  datapath,
		Placement: placement,
		Services:  1,
		Rate:      rate,
		Status:    "ok",
		LatencyUS: Latency{
			P50: p50, P90: 1.8 * p50, P99: 4.2 * p50, P999: 11.5 * p50, Max: 2345.6 * p50, Mean: 1.3 * p50,
		},
		AchievedRPS:   rate * 0.9996,
		ErrorRate:     0.00042,
		Connections:   8,
		ResponseBytes: 1024,
	}
}

func withCosts(c Case, proxies []int, memMiB, cpuPer1k float64, hops float64) Case {
	for i, p := range proxies {
		c.NodeCosts = append(c.NodeCosts, NodeCost{
			Node:                     "node" + string(rune('1'+i)),
			Proxies:                  p,
			DatapathMemoryBytesMean:  float64(p) * memMiB * (1 << 20),
			DatapathCPUPer1kRequests: float64(p) * cpuPer1k,
		})
	}
	c.Path = &Path{Requests: 100, HopsPerRequest: hops}
	return c
}

func TestTables(t *testing.T) {
	sidecar := func(placement string, p50 float64) Case {
		c := tableCase("sidecar", placement, 1000, p50)
		c.Mode, c.MTLS = "l7", true
		return withCosts(c, []int{2, 1, 0}, 48.3, 0.0123, 14)
	}
	failed := tableCase("ebpf", "same-node", 1000, 0)
	failed.Status, failed.Error = "failed", "verify datapath: redirect counter stayed at 0"

	bigger := tableCase("none", "cross-node", 20000, 95)
	bigger.Services, bigger.Connections, bigger.RequestBytes, bigger.ResponseBytes = 20, 64, 512, 16384

	// JudgeRate sets the shortfall; the lateness would come from the
	// repetitions, which these cases lack.
	onRate := tableCase("none", "same-node", 1000, 42.5)
	short := tableCase("none", "same-node", 40000, 2100)
	short.AchievedRPS = 15700
	JudgeRate(&onRate)
	JudgeRate(&short)
	onRate.PacerLatenessUS = &Lateness{P50: 12.5, P99: 180}
	short.PacerLatenessUS = &Lateness{P50: 950, P99: 4200}

	tests := []struct {
		name  string
		cases []Case
	}{
		{"no cases", nil},
		{"rate shortfall", []Case{onRate, short}},
		{"minimal", []Case{tableCase("none", "same-node", 1000, 42.5)}},
		{"datapaths", []Case{
			tableCase("none", "same-node", 1000, 42.5),
			tableCase("none", "cross-node", 1000, 61.25),
			sidecar("same-node", 310),
			sidecar("cross-node", 1275),
			failed,
		}},
		{"matrix", []Case{
			tableCase("none", "cross-node", 1000, 61.25),
			bigger,
			withCosts(tableCase("ebpf", "cross-node", 1000, 0.73e3), []int{1, 1, 1}, 12, 0.004, 9.5),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := LatencyTable(tt.cases).WriteTerminal(&buf); err != nil {
				t.Fatalf("latency table: %v", err)
			}
			if cost := CostTable(tt.cases); cost != nil {
				if err := cost.WriteTerminal(&buf); err != nil {
					t.Fatalf("cost table: %v", err)
				}
			}
			testutil.Golden(t, filepath.Join("testdata", "table-"+strings.ReplaceAll(tt.name, " ", "-")+".golden"), buf.Bytes())
		})
	}
}

func TestFormatMicros(t *testing.T) {
	tests := []struct {
		us   float64
		want string
	}{
		{0, "0.00µs"},
		{8.5, "8.50µs"},
		{42.55, "42.5µs"},
		{999.4, "999µs"},
		{999.7, "1.00ms"},
		{1275, "1.27ms"},
		{61250, "61.2ms"},
		{999_600, "1.00s"},
		{60e6, "60.0s"},
		{1234e6, "1234s"},
	}
	for _, tt := range tests {
		if got := FormatMicros(tt.us); got != tt.want {
			t.Errorf("FormatMicros(%v) = %q, want %q", tt.us, got, tt.want)
		}
	}
}

func TestFold(t *testing.T) {
	tab := &Table{
		Header: []string{"KEY", "A", "BB", "CCC"},
		Number: []bool{false, true, true, true},
		Key:    1,
		Rows:   [][]string{{"x", "1", "22", "333333"}},
		Notes:  []string{"one two three four five six"},
	}
	// Widths: KEY 3+3, A 1+3, BB 2+3, CCC 6+3, a border: 25 whole.
	tests := []struct {
		width   int
		headers [][]string
		notes   string
	}{
		{0, [][]string{{"KEY", "A", "BB", "CCC"}}, "one two three four five six"},
		{25, [][]string{{"KEY", "A", "BB", "CCC"}}, "one two three four five\nsix"},
		{24, [][]string{{"KEY", "A", "BB"}, {"KEY", "CCC"}}, "one two three four five\nsix"},
		{12, [][]string{{"KEY", "A"}, {"KEY", "BB"}, {"KEY", "CCC"}}, "one two\nthree four\nfive six"},
		// Too narrow for any column beside the key: one each.
		{5, [][]string{{"KEY", "A"}, {"KEY", "BB"}, {"KEY", "CCC"}}, "one\ntwo\nthree\nfour\nfive\nsix"},
	}
	for _, tt := range tests {
		parts := tab.Fold(tt.width, TerminalPadding)
		var got [][]string
		for _, p := range parts {
			got = append(got, p.Header)
			if len(p.Rows) != 1 || len(p.Rows[0]) != len(p.Header) || len(p.Number) != len(p.Header) {
				t.Errorf("width %d: part %v has rows %v, number %v", tt.width, p.Header, p.Rows, p.Number)
			}
		}
		if !reflect.DeepEqual(got, tt.headers) {
			t.Errorf("Fold(%d) headers = %v, want %v", tt.width, got, tt.headers)
		}
		last := parts[len(parts)-1]
		if len(last.Notes) != 1 || last.Notes[0] != tt.notes {
			t.Errorf("Fold(%d) notes = %q, want %q", tt.width, last.Notes, tt.notes)
		}
		for _, p := range parts[:len(parts)-1] {
			if len(p.Notes) > 0 {
				t.Errorf("Fold(%d): notes on part %v, want them after the last", tt.width, p.Header)
			}
		}
		// Rendered, every part fits the width, where the widest column
		// beside the key can (16).
		for _, p := range parts {
			var buf bytes.Buffer
			if err := p.WriteTerminal(&buf); err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
				if n := utf8.RuneCountInString(line); tt.width >= 16 && n > tt.width {
					t.Errorf("Fold(%d): line %q is %d wide", tt.width, line, n)
				}
			}
		}
	}
}

func TestTerminalWidth(t *testing.T) {
	for _, tt := range []struct {
		columns string
		want    int
	}{{"", DefaultTerminalWidth}, {"80", 80}, {"0", DefaultTerminalWidth}, {"wide", DefaultTerminalWidth}, {"200", 200}} {
		t.Setenv("COLUMNS", tt.columns)
		// A buffer is no terminal: COLUMNS or the default decide.
		if got := TerminalWidth(&bytes.Buffer{}); got != tt.want {
			t.Errorf("COLUMNS=%q: TerminalWidth = %d, want %d", tt.columns, got, tt.want)
		}
	}
}

func TestProtocolColumnAndFallback(t *testing.T) {
	old := tableCase("none", "cross-node", 1000, 50) // written before protocols
	h2c := tableCase("sidecar", "cross-node", 1000, 80)
	h2c.Protocol, h2c.Mode, h2c.L7Fallback, h2c.MTLS = "h2c", "l4", true, true
	if got := LatencyTable([]Case{old, old}).Header[0]; got == "PROTOCOL" {
		t.Errorf("one protocol: first column %q, want none for a dimension that does not vary", got)
	}
	tbl := LatencyTable([]Case{old, h2c})
	if tbl.Header[0] != "PROTOCOL" {
		t.Fatalf("header = %q, want PROTOCOL first", tbl.Header)
	}
	if got := tbl.Rows[0][0] + "," + tbl.Rows[1][0]; got != "http1,h2c" {
		t.Errorf("protocol cells = %s, want http1,h2c", got)
	}
	if got, want := DatapathLabel(&h2c), "sidecar (l4 for l7, mtls)"; got != want {
		t.Errorf("DatapathLabel = %q, want %q", got, want)
	}
	if old.Point() == h2c.Point() {
		t.Error("cases of two protocols share a matrix point")
	}
}

func TestDatapathLabelWaypoint(t *testing.T) {
	plain := tableCase("nodeproxy", "cross-node", 1000, 80)
	plain.Mode, plain.MTLS = "l4", true
	wp := plain
	wp.Waypoint = "server-node"
	if got, want := DatapathLabel(&plain), "nodeproxy (l4, mtls)"; got != want {
		t.Errorf("DatapathLabel without waypoint = %q, want %q", got, want)
	}
	if got, want := DatapathLabel(&wp), "nodeproxy (l4, mtls, waypoint on server-node)"; got != want {
		t.Errorf("DatapathLabel with waypoint = %q, want %q", got, want)
	}
}
