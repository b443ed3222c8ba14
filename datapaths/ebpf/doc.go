// Package ebpf is the eBPF datapath, the Cilium/Merbridge model on top of the
// node proxy. An agent on each node (the "ebpf" role, started through
// clusters.Cluster.Start like any node agent, so on every provider) loads
// one bpf/redirect datapath for its node:
//
//   - with the proxy on (the default), the same node proxies as the
//     nodeproxy datapath run on each node, in their own container
//     ebpf-proxy (on the netns provider the cgroup <node cgroup>/ebpf-proxy,
//     a sibling of the pod cgroups). Instead of netfilter, cgroup connect4
//     on the node's pod cgroups sends connections for service VIPs to the
//     node proxy (listening on the node's fabric address, which pods reach
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
// bpf_redirect_peer, but only those of the connections the node's connect4
// balanced (proxy off), whose tuples a sockops program records before their
// SYN; with the proxy on, the mesh's connections run between pods and node
// proxies and it delivers none. Every other packet takes the node's stack:
// connections opened before the install keep the node's service NAT, whose
// reverse translation their replies need, and connections from outside the
// mesh keep its conntrack, without which the node's forward filter drops
// their replies as invalid. With mTLS the tc program leaves TCP to a pod's
// application port to the stack in any case, where the node proxy's
// netfilter table resets what is not the proxy's own (mesh.Strict): mTLS is
// strict.
//
// Programs attach to the run's pod cgroups and the proxies' cgroups only,
// which the agent finds under the node's cgroup2 mount (internal/hostfs); a
// pod's workload in a child cgroup inherits them. The agent runs in the
// node's network namespace, where it finds the uplink by its address and a
// pod's host veth by name or, where the topology does not name it, as the
// peer of the pod's interface.
//
// Lifecycle: Install starts the proxies, then the agents, which check the
// node's kernel, load and attach the programs and fill their maps before
// they report ready; Verify reads the agents' BPF counters (and the
// proxies'); Uninstall stops the agents, whose exit closes every program,
// map and link (nothing is pinned, so nothing outlives them), and then the
// proxies. It is safe after a partial Install. The runner process itself
// never touches a namespace, cgroup or BPF object.
package ebpf
