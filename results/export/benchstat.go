// Package export writes a meshbench run in other tools' formats: Go's
// benchmark format (so that benchstat compares runs), CSV for
// spreadsheets, and results as Meshery, the Service Mesh Performance (SMP)
// reference implementation, stores them (MesheryResult objects with
// fortio-shaped runner results), in the shape the SMP repository
// publishes.
package export

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/perf/benchfmt"

	"github.com/meshbench/meshbench/results"
)

// Formats are the formats Write knows, by name.
var Formats = []string{"benchstat", "csv", "smp"}

// Write writes run to w in format, one of Formats. dir is the run's
// directory, where the smp format finds the raw samples; "" when there is
// none.
func Write(w io.Writer, run *results.Run, format, dir string) error {
	switch format {
	case "benchstat":
		return WriteBenchstat(w, run)
	case "csv":
		return WriteCSV(w, run)
	case "smp":
		return WriteSMP(w, run, dir)
	}
	return fmt.Errorf("export: unknown format %q; known: %s", format, strings.Join(Formats, ", "))
}

// benchUnits are the units WriteBenchstat uses, with the metadata that
// tells benchstat how to read them. Latencies are in ns so that benchstat
// scales them to seconds; ratios to none are unitless "x".
var benchUnits = []struct{ unit, key, value string }{
	{"p50-ns", "better", "lower"},
	{"p90-ns", "better", "lower"},
	{"p99-ns", "better", "lower"},
	{"p99.9-ns", "better", "lower"},
	{"max-ns", "better", "lower"},
	{"mean-ns", "better", "lower"},
	{"req/s", "better", "higher"},
	{"errors/req", "better", "lower"},
	{"p50-x-none", "better", "lower"},
	{"p99-x-none", "better", "lower"},
	{"hops/req", "assume", "exact"},
	{"hops/req", "better", "lower"},
	{"proxies/node", "assume", "exact"},
	{"proxies/node", "better", "lower"},
	{"dp-B/node", "better", "lower"},
	{"dp-cpu-sec/1k-req", "better", "lower"},
}

// WriteBenchstat writes run in the Go benchmark format: one line per
// repetition of every successful case, named
// BenchmarkMesh/datapath=sidecar-l7-mtls/placement=.../svc=.../rate=.../conns=.../req=.../resp=...
// so that `benchstat old.txt new.txt` compares two runs repetition by
// repetition and `benchstat -col /datapath run.txt` puts the datapaths side
// by side. The iteration count is the repetition's request count. Per-case
// figures (hops, proxies and datapath memory and CPU on the busiest node)
// are on the first repetition's line only, since they are measured once.
// The scenario is the file's pkg; other facts about the run are comments,
// because benchstat only compares files whose configuration matches.
func WriteBenchstat(w io.Writer, run *results.Run) error {
	e := run.Environment
	fmt.Fprintf(w, "# meshbench run %s of scenario %s, commit %s, kernel %s, %d CPUs %s\n",
		dash(run.ID), dash(run.Scenario), dash(e.GitCommit), dash(e.Kernel), e.CPUs, dash(e.CPUModel))
	bw := benchfmt.NewWriter(w)
	for _, u := range benchUnits {
		if err := bw.Write(&benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: u.unit, Key: u.key}, OrigUnit: u.unit, Value: u.value}); err != nil {
			return fmt.Errorf("export benchstat: %w", err)
		}
	}
	config := []benchfmt.Config{{Key: "pkg", Value: []byte("meshbench/" + nameComponent(run.Scenario)), File: true}}
	for i := range run.Cases {
		c := &run.Cases[i]
		if c.Status != "ok" {
			fmt.Fprintf(w, "# %s %s, not exported\n", c.ID, c.Status)
			continue
		}
		none := run.NoneFor(c)
		for j := range c.Repetitions {
			r := &c.Repetitions[j]
			res := &benchfmt.Result{Config: config, Name: benchfmt.Name(benchName(c)), Iters: int(max(r.Requests, 1))}
			add := func(v float64, unit string) { res.Values = append(res.Values, benchfmt.Value{Value: v, Unit: unit}) }
			if r.Stream != nil {
				// A stream has throughput, no latencies.
				res.Iters = max(r.Stream.Connections, 1)
				add(r.Stream.Gbps, "Gbit/s")
				add(r.Stream.PerConnectionGbps.Median, "Gbit/s/stream")
				add(r.ErrorRate, "errors/stream")
				if j == 0 && len(c.NodeCosts) > 0 {
					add(busiest(c, func(n results.NodeCost) float64 { return n.DatapathCPUPerGiB }), "dp-cpu-sec/GiB")
				}
				if err := bw.Write(res); err != nil {
					return fmt.Errorf("export benchstat: %w", err)
				}
				continue
			}
			l := r.LatencyUS
			add(l.P50*1e3, "p50-ns")
			add(l.P90*1e3, "p90-ns")
			add(l.P99*1e3, "p99-ns")
			add(l.P999*1e3, "p99.9-ns")
			add(l.Max*1e3, "max-ns")
			add(l.Mean*1e3, "mean-ns")
			add(r.AchievedRPS, "req/s")
			add(r.ErrorRate, "errors/req")
			if none != nil && !c.Floor() {
				for _, p := range results.PairRepetitions(c, none) {
					if p[0] == r && p[1].LatencyUS.P50 > 0 && p[1].LatencyUS.P99 > 0 {
						add(l.P50/p[1].LatencyUS.P50, "p50-x-none")
						add(l.P99/p[1].LatencyUS.P99, "p99-x-none")
					}
				}
			}
			if j == 0 {
				if c.Search != nil && c.Search.HighestRPS > 0 {
					add(c.Search.HighestRPS, "highest-req/s")
				}
				if c.Path != nil {
					add(c.Path.HopsPerRequest, "hops/req")
				}
				if len(c.NodeCosts) > 0 {
					add(busiest(c, func(n results.NodeCost) float64 { return float64(n.Proxies) }), "proxies/node")
					add(busiest(c, func(n results.NodeCost) float64 { return n.DatapathMemoryBytesMean }), "dp-B/node")
					add(busiest(c, func(n results.NodeCost) float64 { return n.DatapathCPUPer1kRequests }), "dp-cpu-sec/1k-req")
				}
			}
			if err := bw.Write(res); err != nil {
				return fmt.Errorf("export benchstat: %w", err)
			}
		}
	}
	return nil
}

// benchName turns a case into a sub-benchmark name with key=value parts.
// The datapath's mode and mTLS are part of its value, so that
// `benchstat -col /datapath` lines the datapaths up by matrix point.
func benchName(c *results.Case) string {
	rate := fmt.Sprint(c.Rate)
	switch {
	case results.IsStream(*c):
		rate = "-" // a stream has none
	case results.IsSearch(*c):
		rate = "search" // as in the case ID
	}
	parts := []string{"Mesh", "datapath=" + nameComponent(configID(c))}
	parts = append(parts,
		"placement="+nameComponent(c.Placement),
		fmt.Sprintf("svc=%d", c.Services),
		"rate="+nameComponent(rate),
		fmt.Sprintf("conns=%d", c.Connections),
		fmt.Sprintf("req=%d", c.RequestBytes),
		fmt.Sprintf("resp=%d", c.ResponseBytes),
	)
	if p := c.ProtocolName(); p != "http1" {
		// http1 names stay as they were before protocols, as case IDs do.
		parts = append(parts, "proto="+nameComponent(p))
	}
	return strings.Join(parts, "/")
}

// nameComponent keeps a value from breaking a benchmark name: no spaces,
// slashes or "=".
func nameComponent(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == '/' || r == '=' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

func busiest(c *results.Case, f func(results.NodeCost) float64) float64 {
	m := f(c.NodeCosts[0])
	for _, n := range c.NodeCosts[1:] {
		m = max(m, f(n))
	}
	return m
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
