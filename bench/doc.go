// Package bench is the runner: for every case of a scenario it runs the
// ordered stages provision → install datapath → deploy workloads → warm-up →
// verify → measure (repetitions) → teardown, and turns the samples into a
// results.Run.
//
// Every stage takes the run's context. Teardown always runs, with its own
// bounded context, so Ctrl-C still removes everything (unless Retain is set).
// A failing case is recorded as failed and the run goes on with the next one;
// only cancellation stops the run early.
package bench
