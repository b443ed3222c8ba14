// Package bench is the runner: for every case of a scenario it runs the
// ordered stages provision → install datapath → deploy workloads → warm-up →
// verify → measure (repetitions, with the cost sampler) → packet-path probe
// → teardown, and turns the samples into a results.Run.
//
// In interleaved order (Options.Order) the cases of one matrix point, one
// per datapath, go through the stages up to verify one after the other and
// then stay up, each in its own cluster, while their repetitions take
// turns, one each, with the cost sampler around each repetition; then each
// is probed and torn down. With Options.ReuseClusters, teardown keeps a
// cluster that is clusters.Reusable and holds nothing of the uninstalled
// datapath for the next case of the same layout, which gives it its own
// injection instead of provisioning; clusters no case takes are deleted.
//
// An enrolment case (scenarios.Case.EnrolAfter) runs the stages with its
// cluster unmeshed and no datapath installed up to measure, which is one
// attack of the case's duration during which, at EnrolAfter, the datapath
// is installed into the running cluster (enrol.go): a datapaths.PodJoiner
// (sidecar) by a rolling replacement of the server pods through
// clusters.Roller, the others by Install; a poller reads the datapath's
// per-source counters every 100 ms, and the case records a
// results.Enrolment instead of costs, probe and coverage.
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
