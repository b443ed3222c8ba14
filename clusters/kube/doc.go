// Package kube provides clusters in any Kubernetes cluster reachable
// through a kubeconfig (client-go), so that the scenarios that run on the
// embedded netns cluster run unchanged on real ones.
//
// A cluster of run id R is one namespace, meshbench-R, labelled
// meshbench.dev/run=R, holding:
//
//   - a ClusterIP Service per service, selecting its pods by app=<service>;
//   - a Pod per pod of the spec, named like the netns provider names it
//     (<service>-<k>), bound to its node by required node affinity on the
//     node's name. Node index i is the i-th schedulable node in name order.
//     The pod's one container runs `meshbench agent pause` from an image
//     that holds nothing but the static meshbench executable.
//
// The image is built in Go (go-containerregistry), without Docker, from the
// running executable or Options.Executable, and reaches the nodes either
// through a registry (pulled by digest) or as an archive imported on each
// node by a command such as `ctr -n k8s.io images import` (pods then never
// pull).
//
// Lifecycle: Provider.Check verifies, changing nothing, what a run needs
// (API server, RBAC, nodes, image); Provider.Create makes the namespace,
// services and pods, waits until the pods run and deletes the namespace
// again if anything fails. Cluster.Start runs `meshbench agent ...` in a
// pod through the pods/exec subresource, its stdin and stdout carrying the
// internal/wire protocol; agents exit when their stdin closes.
// Cluster.Delete deletes the namespace and waits until it is gone; Cleanup
// finds what killed or retained runs left by the run label.
//
// The provider does not sample per-node memory and CPU (the cluster is no
// bench.CgroupReader) and does not start processes on nodes: datapaths
// other than none, the per-node cost sampler and the packet-path probe need
// DaemonSets it does not deploy yet.
package kube
