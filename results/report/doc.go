// Package report renders a meshbench run for people: a terminal summary,
// report.md with PNG charts, ready to publish, and report.html, one
// self-contained page (no network access: its charts are SVG rendered in
// Go with gonum.org/v1/plot and inlined, its styles inline).
//
// Every report shows the same tables, from one table model
// (results.Table): latency, datapath cost and packet path, and each
// datapath's latency relative to none's at the same point (the overhead,
// which cancels the machine's speed) with the repetitions' noise. Each is
// folded to its medium's width: the terminal's (Width, or whole with
// TerminalOptions.Wide), a GitHub page's for report.md, report.html's
// column. A failed case is a row that says so beside its datapath, and a
// partial run carries a banner in every report. The charts: the latency
// percentile spectrum of each datapath on log axes (from the repetitions'
// HDR histograms), latency over time per case (p50, p99 and errors per
// 100 ms of intended send times, from the samples files), latency against
// request rate when the scenario has several rates, datapath memory and CPU
// per node, the packet path's length per request with its breakdown, the
// ordered path of one traced request per datapath as a diagram (HTML), and
// the environment the run happened in.
//
// Reports are derived data: WriteAll renders them from result.json alone,
// with every run and again on `meshbench report DIR`. Figures the run did
// not record (no histogram, no node costs, no path probe) leave their chart
// out rather than draw an empty one.
package report
