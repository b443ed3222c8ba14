// Package ebpf is the eBPF datapath, the Cilium/Merbridge model on top of the
// node proxy. It loads one bpf/redirect datapath per node:
//
//   - with the proxy on (the default), the same node proxies as the
//     nodeproxy datapath run in each node's namespace, in their own cgroup
//     <node cgroup>/ebpf-proxy. Instead of netfilter, cgroup connect4 on the
//     node's pod cgroups sends connections for service VIPs to the node
//     proxy (listening on the node's fabric address, which pods reach
//     through their default route), cgroup getsockopt on the proxy's cgroup
//     answers SO_ORIGINAL_DST, and sockops + sk_msg hand bytes between the
//     app's socket and the proxy's socket without TCP/IP. They do the same
//     on the proxy's upstream leg when the backend pod is on the proxy's own
//     node (the direct dial to a same-node pod, and the receiving proxy's
//     dial after a cross-node tunnel): bytes go socket to socket instead of
//     over the pod's veth. The proxies run with -splice=false: splice(2)
//     does not see data sk_msg delivered;
//   - with `proxy: off`, no proxy runs: connect4 rewrites a service VIP to
//     one of its pods (socket-level load balancing).
//
// In both modes a tcx ingress program on the node's uplink (the device with
// the node's fabric address) and on the node side of every pod veth delivers
// packets for the node's pods straight into the pod's namespace with
// bpf_redirect_peer.
//
// Programs attach to the run's pod cgroups and the proxies' cgroups only,
// found through the cluster's CgroupDir (the netns provider has it); a
// pod's workload in a child cgroup inherits them.
//
// Lifecycle: Install checks kernel support, starts the proxies, loads and
// attaches each node's programs and fills their maps; Verify reads the BPF
// counters (and the proxies'); Uninstall closes every node's programs and
// maps, which detaches them, and stops the proxies. It is safe after a
// partial Install, and nothing is pinned, so nothing outlives it.
package ebpf
