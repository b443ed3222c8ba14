package results

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

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

func TestWriteTable(t *testing.T) {
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
			if err := WriteTable(&buf, &Run{Cases: tt.cases}); err != nil {
				t.Fatalf("WriteTable: %v", err)
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

func TestProtocolColumnAndFallback(t *testing.T) {
	old := tableCase("none", "cross-node", 1000, 50) // written before protocols
	h2c := tableCase("sidecar", "cross-node", 1000, 80)
	h2c.Protocol, h2c.Mode, h2c.L7Fallback, h2c.MTLS = "h2c", "l4", true, true
	if got := ResultsTable([]Case{old}).Header[0]; got != "PLACEMENT" {
		t.Errorf("one protocol: first column %q, want PLACEMENT (a dimension that does not vary is left out)", got)
	}
	tbl := ResultsTable([]Case{old, h2c})
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
