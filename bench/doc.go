// Package bench is the runner: for every case of a scenario it runs the
// ordered stages provision → install datapath → deploy workloads → warm-up →
// verify → measure (repetitions, with the cost sampler) → packet-path probe
// → teardown, and turns the samples into a results.Run.
//
// Every stage takes the run's context. Teardown always runs, with its own
// bounded context, so Ctrl-C still removes everything (unless Retain is set).
// A failing case is recorded as failed and the run goes on with the next one;
// only cancellation and a provider configuration error (clusters.ErrConfig)
// stop the run early.
//
// The runner sees what it drives through small interfaces of its own: a
// Provider that creates clusters, the datapath from Options.Datapaths, and
// the agents (Server, Load, CostAgent, ProbeAgent) that Agents starts. By
// default those are `meshbench agent` processes driven by the roles' typed
// clients (agents.go); the stage tests put fakes in their place and run
// without root.
package bench
