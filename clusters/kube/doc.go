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
//     Its app container runs `meshbench agent pause` from an image that
//     holds nothing but the static meshbench executable; the datapath's
//     injection adds init containers (the sidecar's redirect rules, with
//     NET_ADMIN) and idle containers (the sidecar proxy's);
//   - a datapath's own services (waypoints) get, instead of bare pods, a
//     Deployment of one replica per pod, bound to its node alike;
//   - with a datapath that adds pod containers and InjectWebhook (the
//     default), the sidecar injector: a Secret (serving certificate and the
//     containers to add), the pod and Service meshbench-injector running the
//     kubenode injector role, and the cluster-scoped
//     MutatingWebhookConfiguration meshbench-R-injector (labelled and owned
//     by the namespace) that sends the creation of workload pods not
//     labelled meshbench.dev/inject=false to it. The pods are created
//     without the containers, and the webhook adds them, as a mesh's
//     injector does; InjectDirect writes them into the pod objects;
//   - the DaemonSet meshbench-node: on each of the run's nodes a
//     privileged pod in the host's network and PID namespaces, with the
//     node's root directory read-only at /host, whose containers ("agent"
//     and the datapath's, e.g. "nodeproxy") are where Start runs node-level
//     processes: node proxies, steering tables, the eBPF datapath's loader,
//     the cost sampler and the packet-path probe. Cluster.StartHost runs a
//     process there outside every pod's cgroup, as one started on the node
//     by hand (the coverage stage's host sources): the kube-host role
//     creates it in the cgroup v2 meshbench-<run id>/host-<n> beside the
//     kubelet's kubepods (kubenode.HostCgroup), and the node agent's
//     pause process kills what is left there and removes the cgroups as it
//     ends.
//
// An enrolment (clusters.Roller) works as on a real cluster: the namespace
// is labelled, which changes what the injector webhook's selectors pick; a
// server pod is replaced by a new one created without the app label, which
// gets it once its server listens while the old one loses it, so that the
// endpoint slices, and with them kube-proxy, move new connections over;
// the old pod is then deleted. A running client pod gets the injected
// containers as ephemeral containers.
//
// The image is built in Go (go-containerregistry), without Docker, from the
// running executable or Options.Executable, and reaches the nodes either
// through a registry (pulled by digest) or as an archive imported on each
// node by a command such as `ctr -n k8s.io images import` (pods then never
// pull).
//
// Lifecycle: Provider.Check verifies, changing nothing, what a run needs
// (API server, RBAC, nodes, image); Provider.PrepareImage gets the image
// to the nodes before the first case; Provider.Create makes the namespace,
// services, pods and node agents, waits until they run and the services
// have their endpoints, asks each node agent where the pods live on its
// node (the kube-inspect role: host PID, network namespace, cgroups, host
// veth) and deletes the namespace again if anything fails. Cluster.Start
// runs `meshbench agent ...` in a pod's or node agent's container through
// the pods/exec subresource, its stdin and stdout carrying the
// internal/wire protocol; agents exit when their stdin closes.
// Cluster.Delete deletes the namespace and waits until it is gone;
// Provider.Cleanup and CleanupAll delete what killed or retained runs left,
// found by the run label. The node
// agents remove the run's nftables tables from their nodes' namespaces as
// they end (and what a killed WireGuard agent left: builtin's pause role),
// so deleting the namespace also removes a datapath's steering.
package kube
