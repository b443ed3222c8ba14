// Package kind provides clusters in kind (Kubernetes in Docker) clusters it
// creates through the sigs.k8s.io/kind library, and runs the cases in them
// through the kube provider (clusters/kube).
//
// Every Create makes a kind cluster of its own, named ClusterName(run id):
// one control-plane node and spec.Nodes worker nodes. The control plane
// keeps its NoSchedule taint, so the kube provider, which takes the first
// spec.Nodes schedulable nodes, places the pods on the workers only: the
// scenario's node count is the number of nodes that run pods, and the API
// server and etcd never share a node with the measured pods. (kind removes
// the taint itself when a cluster has no workers; meshbench never asks for
// such a cluster.) The meshbench image is imported on the workers with
// kind's own loader (nodeutils.LoadImageArchive, as `kind load
// image-archive`), so nothing is pushed or pulled. Cluster.Delete deletes
// the run's namespace, then the kind cluster, then kind's network if no
// kind cluster is left (kind itself never removes it).
//
// A kind cluster per case keeps cases apart, as the other providers do,
// and costs the creation of a cluster per case: measured on 2 shared
// cores with hack/kindimage's node image, 33 to 58 s for a control plane
// and 3 workers until the workers are schedulable, and 13 to 18 s to
// delete it.
//
// The kind library takes no context: a Create cancelled while kind builds
// the cluster deletes the node containers under it, waits until kind gives
// up and deletes what is left; an image import runs to its end.
//
// kind needs a running Docker or podman engine and the node image
// (DefaultNodeImage unless Options.NodeImage names another) in the engine
// or reachable in its registry; Provider.Check checks both, and that the
// meshbench executable can be packed into an image, before any cluster is
// made. Provider.Cleanup and CleanupAll delete the kind clusters that
// killed or retained runs left, found by name. Where there is no engine,
// hack/kindengine runs one in a network namespace of its own; the API
// server is then published in that namespace, so meshbench runs there too
// (hack/kindimage/README.md).
package kind
