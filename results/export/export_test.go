package export

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/resultstest"
)

func testRun(tb testing.TB) *results.Run {
	tb.Helper()
	run := resultstest.Run(tb, resultstest.Options{})
	c := &run.Cases[len(run.Cases)-1]
	c.Status, c.Error, c.Repetitions, c.NodeCosts, c.Path = "failed", "verify datapath: no redirects", nil, nil, nil
	return run
}

// readBench parses benchstat input as benchstat does.
func readBench(tb testing.TB, data []byte) ([]*benchfmt.Result, benchfmt.UnitMetadataMap) {
	tb.Helper()
	r := benchfmt.NewReader(bytes.NewReader(data), "run.txt")
	var out []*benchfmt.Result
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.Result:
			out = append(out, rec.Clone())
		case *benchfmt.SyntaxError:
			tb.Errorf("benchstat input: %v", rec)
		}
	}
	if err := r.Err(); err != nil {
		tb.Fatalf("read benchstat input: %v", err)
	}
	return out, r.Units()
}

func TestWriteBenchstat(t *testing.T) {
	run := testRun(t)
	var b bytes.Buffer
	if err := WriteBenchstat(&b, run); err != nil {
		t.Fatalf("WriteBenchstat: %v", err)
	}
	res, units := readBench(t, b.Bytes())
	// 7 ok cases × 3 repetitions.
	if len(res) != 21 {
		t.Fatalf("%d benchmark results, want 21:\n%s", len(res), b.String())
	}
	first := res[0]
	if got, want := first.Name.String(), "Mesh/datapath=none/placement=same-node/svc=1/rate=1000/conns=8/req=0/resp=1024"; got != want {
		t.Errorf("first name %q, want %q", got, want)
	}
	if got := first.GetConfig("pkg"); got != "meshbench/quick" {
		t.Errorf("pkg = %q, want meshbench/quick", got)
	}
	// benchstat tidies ns to seconds.
	p99, ok := first.Value("p99-sec")
	if want := run.Cases[0].Repetitions[0].LatencyUS.P99 / 1e6; !ok || p99 != want {
		t.Errorf("p99-sec = %v (%v), want %v", p99, ok, want)
	}
	if _, ok := res[1].Value("hops/req"); ok {
		t.Errorf("second repetition repeats the per-case hops")
	}
	if v, ok := res[3].Value("p99-x-none"); !ok || v < 2 || v > 3 {
		t.Errorf("sidecar p99-x-none = %v (%v), want about 2.6", v, ok)
	}
	if a := units.GetAssumption("hops/req"); a != benchmath.AssumeExact {
		t.Errorf("hops/req assumption %v, want exact", a)
	}
	if units.GetBetter("req/s") != 1 || units.GetBetter("p99-sec") != -1 {
		t.Errorf("better: req/s %d, p99-sec %d; want +1 and -1", units.GetBetter("req/s"), units.GetBetter("p99-sec"))
	}
	if !strings.Contains(b.String(), "# "+run.Cases[7].ID+" failed, not exported") {
		t.Errorf("the failed case is not mentioned")
	}
}

func TestWriteBenchstatNames(t *testing.T) {
	run := resultstest.Run(t, resultstest.Options{Datapaths: []string{"sidecar"}, Placements: []string{"same node/odd=x"}})
	run.Cases[0].MTLS = true
	run.Scenario = "my scenario"
	var b bytes.Buffer
	if err := WriteBenchstat(&b, run); err != nil {
		t.Fatal(err)
	}
	res, _ := readBench(t, b.Bytes())
	if got, want := res[0].Name.String(), "Mesh/datapath=sidecar-l4-mtls/placement=same_node_odd_x/svc=1/rate=1000/conns=8/req=0/resp=1024"; got != want {
		t.Errorf("name %q, want %q", got, want)
	}
	if got := res[0].GetConfig("pkg"); got != "meshbench/my_scenario" {
		t.Errorf("pkg %q, want meshbench/my_scenario", got)
	}
}

func TestWriteCSV(t *testing.T) {
	run := testRun(t)
	var b bytes.Buffer
	if err := WriteCSV(&b, run); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	r := csv.NewReader(&b)
	r.FieldsPerRecord = len(csvHeader)
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read CSV back: %v", err)
	}
	// Header, 7 ok cases × 3 repetitions, one row for the failed case.
	if len(rows) != 1+21+1 {
		t.Fatalf("%d rows, want 23", len(rows))
	}
	col := func(row []string, name string) string {
		for i, h := range csvHeader {
			if h == name {
				return row[i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	sidecar := rows[4]
	if col(sidecar, "datapath") != "sidecar" || col(sidecar, "repetition") != "0" || col(sidecar, "hops_per_request") != "14" {
		t.Errorf("sidecar row = %v", sidecar)
	}
	if !strings.HasPrefix(col(sidecar, "p99_vs_none"), "2.") {
		t.Errorf("sidecar p99_vs_none = %q, want about 2.6", col(sidecar, "p99_vs_none"))
	}
	last := rows[len(rows)-1]
	if col(last, "status") != "failed" || col(last, "p99_us") != "" || col(last, "error") == "" {
		t.Errorf("failed case row = %v", last)
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, testRun(t), "yaml", "")
	if err == nil || !strings.Contains(err.Error(), "benchstat, csv, smp") {
		t.Errorf("Write with format yaml: %v, want an error listing the formats", err)
	}
}
