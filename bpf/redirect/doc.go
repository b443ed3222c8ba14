// Package redirect loads and attaches meshbench's eBPF datapath, the
// Cilium/Merbridge model, one [Datapath] per node.
//
// With the node proxy ([ModeProxy]):
//
//   - cgroup/connect4 on the node's pod cgroups sends TCP connections for a
//     service VIP to the node proxy and records the original destination by
//     socket cookie;
//   - sockops, once an app<->proxy connection is established, moves the
//     original destination to a map keyed by the connection's 4-tuple and puts
//     both sockets into a sockhash;
//   - sockops also puts both ends of the proxy's own connections to pods on
//     its node (remote address added with [Datapath.AddPod], local address
//     not) into the sockhash, as Merbridge does: the proxy's end when it
//     establishes records its 4-tuple in an LRU map, and the pod's end, which
//     establishes after the proxy's ACK, finds it there. Connections to pods
//     on other nodes, and pod-to-pod connections, keep TCP/IP;
//   - sk_msg on that sockhash hands each message straight to the peer
//     socket's receive queue (bpf_msg_redirect_hash with BPF_F_INGRESS),
//     bypassing TCP/IP between app and proxy and between the proxy and a
//     local pod. A server listening on all addresses (a Go ":port" listener)
//     has an AF_INET6 socket with IPv4-mapped addresses; sockops and sk_msg
//     treat it as IPv4;
//   - cgroup/getsockopt on the proxy's cgroup answers SO_ORIGINAL_DST for the
//     proxy's accepted sockets from that map. The proxy makes the same call it
//     makes behind an iptables REDIRECT, and steering needs neither a
//     netfilter rule nor conntrack. (A map the proxy reads would work too, but
//     would tie the proxy to this package.)
//
// With the proxy off ([ModeNoProxy], `proxy: off`), a different connect4
// program rewrites the VIP to a backend chosen at random: socket-level load
// balancing, as Cilium does for traffic that needs no L7 or mTLS; a sockops
// program records the 4-tuple of each connection it balanced when the SYN is
// about to leave.
//
// In both modes, tcx/ingress on node-side devices delivers packets of those
// connections (either direction) for local pods straight into the pod's
// namespace with bpf_redirect_peer, skipping the node's routing, netfilter
// and the veth transmit. Every other packet takes the node's stack: the
// replies of connections opened before the datapath was attached need the
// node's service NAT reversed, and the node's conntrack must see the whole
// of a connection from outside the mesh, or its forward filter drops the
// replies as invalid. With the proxy on, the mesh's connections run
// between pods and node proxies, not pod to pod, and the tc program
// delivers nothing.
//
// The proxy is excluded from steering by cgroup: connect4 is attached only to
// pod cgroups ([Datapath.AttachCgroup]); the proxy's cgroup gets sockops and
// getsockopt only ([Datapath.AttachProxyCgroup]), so the proxy's own upstream
// connections are never rewritten, even to a VIP. The two kinds of cgroup must
// not nest, or programs would run twice for the inner one.
//
// A proxy must read redirected sockets with read/recvmsg: data that sk_msg
// delivers sits in the socket's BPF ingress queue, which splice(2) does not
// see, so io.Copy between two *net.TCPConn (which splices) stalls.
//
// Lifecycle: [Load] creates the mode's maps and programs, the Attach methods
// link them to the run's own cgroups and devices (never the cgroup2 root),
// the Add methods fill the maps, and [Datapath.Close] detaches and frees
// everything. Nothing is pinned, and no map is memory-mapped, so nothing
// outlives Close.
package redirect
