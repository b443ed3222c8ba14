package export

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/meshbench/meshbench/results"
)

// csvHeader names WriteCSV's columns. Latencies are in µs, memory in
// bytes, CPU in seconds per 1000 requests; per-node figures are the busiest
// node's.
var csvHeader = []string{
	"run", "scenario", "case", "datapath", "mode", "mtls", "placement", "services", "rate", "connections",
	"request_bytes", "response_bytes", "status", "error", "repetition", "requests", "errors",
	"achieved_rps", "error_rate", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us",
	"p50_vs_none", "p99_vs_none", "hops_per_request", "proxies_per_node",
	"datapath_memory_bytes_per_node", "datapath_cpu_s_per_1k_requests",
}

// WriteCSV writes one row per repetition of every case (one row with
// empty figures for a failed case without repetitions). The ratios to none
// pair the repetition with none's of the same index at the same point;
// case-level figures (hops, proxies, memory, CPU) repeat on every row of
// their case.
func WriteCSV(w io.Writer, run *results.Run) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for i := range run.Cases {
		c := &run.Cases[i]
		head := []string{
			run.ID, run.Scenario, c.ID, c.Datapath, c.Mode, strconv.FormatBool(c.MTLS), c.Placement,
			strconv.Itoa(c.Services), num(c.Rate), strconv.Itoa(c.Connections),
			strconv.Itoa(c.RequestBytes), strconv.Itoa(c.ResponseBytes), c.Status, c.Error,
		}
		var tail []string
		if c.Path != nil {
			tail = append(tail, num(c.Path.HopsPerRequest))
		} else {
			tail = append(tail, "")
		}
		if len(c.NodeCosts) > 0 {
			tail = append(tail,
				num(busiest(c, func(n results.NodeCost) float64 { return float64(n.Proxies) })),
				num(busiest(c, func(n results.NodeCost) float64 { return n.DatapathMemoryBytesMean })),
				num(busiest(c, func(n results.NodeCost) float64 { return n.DatapathCPUPer1kRequests })))
		} else {
			tail = append(tail, "", "", "")
		}
		if len(c.Repetitions) == 0 {
			row := append(append(head, make([]string, 13)...), tail...)
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("export csv: %w", err)
			}
			continue
		}
		ratios := map[*results.Repetition][2]string{}
		if none := run.NoneFor(c); none != nil && !c.Floor() {
			for _, p := range results.PairRepetitions(c, none) {
				var r [2]string
				if b := p[1].LatencyUS.P50; b > 0 {
					r[0] = num(p[0].LatencyUS.P50 / b)
				}
				if b := p[1].LatencyUS.P99; b > 0 {
					r[1] = num(p[0].LatencyUS.P99 / b)
				}
				ratios[p[0]] = r
			}
		}
		for j := range c.Repetitions {
			r := &c.Repetitions[j]
			l := r.LatencyUS
			figures := []string{num(r.AchievedRPS), num(r.ErrorRate),
				num(l.P50), num(l.P90), num(l.P99), num(l.P999), num(l.Max), num(l.Mean)}
			if r.Stream != nil {
				// A stream has no rate and no latencies: empty, not 0.
				figures = append([]string{"", num(r.ErrorRate)}, make([]string, 6)...)
			}
			row := append(head[:len(head):len(head)],
				strconv.Itoa(r.Index), strconv.FormatUint(r.Requests, 10), strconv.FormatUint(r.Errors, 10))
			row = append(append(row, figures...), ratios[r][0], ratios[r][1])
			if err := cw.Write(append(row, tail...)); err != nil {
				return fmt.Errorf("export csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	return nil
}
