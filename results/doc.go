// Package results owns the record of a meshbench run: the versioned
// result.json schema, the statistics that turn raw latency samples into
// percentiles, the raw samples kept beside result.json so that reports can
// be recomputed (Sample, with SampleEncoder and SampleDecoder), the run
// directory store, and the one table builder (Table) that the terminal,
// Markdown and HTML reports render.
//
// Lifecycle: the runner creates a run directory with NewRunDir, writes each
// repetition's samples with WriteSamples and summarises them with Summarize,
// folds the repetitions of a case with Aggregate, and writes result.json with
// Write once per case (atomically, so a killed run never leaves a half file).
// Once all cases ran, Finalize adds each case's statistics over repetitions
// (medians, confidence intervals, noise) and its latency overhead relative
// to the none datapath at the same matrix point.
// Later commands load it with Read, which refuses files that are not a
// meshbench result of this schema version.
package results
