// Package netns provides the embedded cluster: a kind-shaped Kubernetes
// cluster built from network namespaces and cgroups on one Linux host, with
// no Docker and no Kubernetes.
//
// A cluster of run id R is, like kind with kindnet and kube-proxy:
//
//   - a fabric namespace mb-R-fabric whose bridge is kind's docker network
//     (172.18.0.0/16, bridge 172.18.0.1);
//   - one namespace per node, mb-R-nI, joined to the bridge by a veth (node
//     eth0 172.18.0.(I+2)), forwarding IPv4, with a route to every other
//     node's pod range via that node, as kindnet programs it;
//   - one namespace per pod, mb-R-pK, joined to its node by a veth pair the
//     way the ptp CNI plugin does it: eth0 holds the pod IP/32 with a default
//     route to the node's gateway address (the first of the node's /24),
//     which every host-side veth carries, and the node has a /32 route to
//     the pod through the host-side veth;
//   - a virtual IP per service, load-balanced to its pods in every node by
//     an nftables table meshbench-R built like kube-proxy's nftables mode;
//   - a cgroup per node and per pod: meshbench-R/<node>/<pod> directly under
//     the cgroup2 mount and, where memory and cpuacct are cgroup v1
//     hierarchies, under the v1 group of the process that made the cluster;
//     processes started on a node itself go in meshbench-R/<node>/system.
//
// Namespaces are mounted under /run/netns like `ip netns add` creates them,
// so `ip netns exec mb-R-p0 ...` works for inspection. The host's own
// network namespace is never changed: every link, address, route, sysctl
// and rule lives in a namespace of the run.
//
// Every process a cluster starts keeps only the capabilities of its
// container (clusters.Container.NetAdmin) and its clusters.ProcSpec.Caps,
// though it is uid 0 in the host's PID namespace (caps.go); a process in a
// pod has a mount namespace of its own that shows only the executable, the
// shared libraries, /proc and its ProcSpec.StateDir (mountns.go).
//
// Lifecycle: Provider.Check tries, in a throwaway namespace, what clusters
// need of the host and its kernel; Provider.Create builds the cluster in
// stages and removes what it made on failure; Cluster.Start runs meshbench
// agents inside a pod or node (its namespace and cgroup); Cluster.Delete
// kills them and removes everything. Provider.Cleanup and CleanupAll
// remove what killed or retained runs left, found by the names above, and
// the runner's state directories under Options.StateRoot; Leftovers lists
// what a cluster left.
package netns
