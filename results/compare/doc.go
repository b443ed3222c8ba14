// Package compare pairs the cases of two meshbench runs, says for every
// figure whether the candidate run is better, worse or indistinguishable
// from the base, and gates on regressions for CI. Like benchstat, it
// compares the cases both runs have and lists the others as left out, so
// that a rerun of one datapath compares with a full run. It renders a
// comparison as a terminal table, Markdown for a pull-request comment,
// JSON, or an HTML page around the two runs' reports, and a gate's verdict
// as text, JSON or JUnit XML.
//
// # Figures and tests
//
// Latency percentiles, achieved rate and error rate have one value per
// repetition. They are compared with Welch's two-sample t-test
// (golang.org/x/perf/benchmath's AssumeNormal) on the logarithm of the
// repetitions' values (on the values themselves when some are zero, as
// error rates often are). The Mann-Whitney U test that benchstat uses makes
// no assumption about the distribution but cannot reach p < 0.05 with
// fewer than 4 repetitions a side (its smallest p-value for 3 against 3 is
// 0.1), and 3 is what short runs use; latencies are positive with
// multiplicative noise, which the logarithm turns into the roughly normal,
// additive noise the t-test expects.
//
// Overhead figures (p99_overhead, ...) are a datapath's latency over the
// none datapath's at the same matrix point, repetition by repetition, so
// the machine's speed cancels out; they are tested the same way.
//
// Hops per request and proxies per node are deterministic: any difference
// is real. Datapath memory and CPU are measured once per case, across all
// its repetitions, so no test applies: a change within their noise floor
// (5% and 10%) counts as no change.
//
// # Verdicts
//
// A significant change (p < Alpha) is better or worse depending on the
// figure's direction. A change that is not significant but at least
// NoiseFloor in size is "inconclusive: too noisy": it may be real, but the
// repetitions scatter too much to tell. Anything else is "no significant
// change".
//
// # Gate
//
// Gate checks a comparison against Limits. Deterministic figures are gated
// exactly; latency is gated on overhead relative to none, and only when the
// change is significant, because absolute latency follows the machine and
// a CI machine is not the one that recorded the baseline. A case that
// succeeded in the base and failed in the candidate always fails the gate.
// Warnings (what the gate did not fail on) are one short line each, the
// same message for every case it applies to.
package compare
