// Package pathprobe counts how often a request's packets and bytes cross the
// kernel's network stack, per network namespace and device, with BTF-enabled
// raw tracepoints (tp_btf). kprobes and fentry are not used: they are not
// available everywhere meshbench runs (fentry loads fail with EPERM on some
// locked-down kernels).
//
// Events and the tracepoints behind them:
//
//	Transmit     net:net_dev_xmit         a device's driver accepted an IPv4 packet carrying data
//	Receive      net:netif_receive_skb    the stack took an IPv4 packet carrying data from a device
//	TransmitAck  net:net_dev_xmit         the same for a TCP segment without payload
//	ReceiveAck   net:netif_receive_skb    the same for a TCP segment without payload
//	SocketSend   sock:sock_send_length    a sendmsg/write moved at least one byte
//	SocketRecv   sock:sock_recv_length    a recvmsg/read moved at least one byte
//	             raw_syscalls:sys_enter,  a splice(2) read at least one byte from a TCP socket
//	             tcp:tcp_rcv_space_adjust,
//	             raw_syscalls:sys_exit
//	RouteLookup  fib:fib_table_lookup     an IPv4 route lookup resolved a nexthop
//	             irq:softirq_entry,       (no event: which CPUs are in a softirq)
//	             irq:softirq_exit
//
// Only IPv4 packets count: meshbench clusters are IPv4, and ARP and the IPv6
// link-local chatter of fresh interfaces follow timers, not requests.
//
// A packet carries data unless it is a TCP segment whose IPv4 total length
// is no more than its IP and TCP headers: a pure ACK, a window update, or a
// SYN, FIN or RST without data. Those are TransmitAck and ReceiveAck. The
// split is what makes device hops per request exact: whether a receiver's
// ACK rides on its response or leaves on its own, when the delayed-ACK
// timer fires first on a busy machine, depends on scheduling, while the
// segments that carry a request and its response on warm keep-alive
// connections are the same every time. Handshake and teardown segments go
// with the ACKs because they carry no request: a datapath that opens a
// connection during the count shows there, not as a fraction of a hop.
// Every other IPv4 packet (UDP, ICMP, fragments) counts as data.
//
// Socket events are keyed by the socket's bound device,
// 0 for nearly every socket, and are recorded when the call returns, so in a
// trace a send appears after the transmits it caused. Route lookups are keyed by the nexthop's device
// and namespace, because the lookup itself carries no namespace; lookups that
// found no route are not counted. Data read from a TCP socket with splice(2),
// as a proxy that does not copy through user space reads it, goes through
// tcp_read_sock and never passes sock_recv_length; the splice's entry and
// exit, with the tcp_rcv_space_adjust that tcp_read_sock calls for the
// socket in between, count it as one SocketRecv. Writes by splice or
// sendfile reach sock_sendmsg and are SocketSends anyway.
//
// A traced event also says who caused it ([Event].Context): a task, named
// by its process id, cgroup and name, where the kernel did the work on its
// behalf (a sendmsg and the transmits it ran down to, a socket read), or
// nobody, where it ran in a softirq (between the softirq_entry and
// softirq_exit tracepoints on its CPU, whichever task the softirq
// interrupted: receiving and forwarding happen there) or in a kernel
// thread. The node agent names tasks by the cgroups of the run's
// processes it is given ([Options].Processes: a pod's app, a sidecar, a
// node proxy) and softirq and kernel-thread work [KernelActor].
//
// Only watched network namespaces count. Given IPv4 prefixes (the run's pod,
// service and node addresses), the probe also counts only the run's own
// traffic, which matters where a namespace is shared with the cluster's (a
// Kubernetes node's carries kubelet and API server traffic, and the container
// runtime's exec streams on 127.0.0.1): a packet counts when both addresses
// of its IPv4 header lie in the prefixes; a socket call when the socket is
// TCP or UDP over IPv4 (AF_INET, or AF_INET6 with IPv4-mapped addresses) and
// both its local and peer addresses do, so that unix and netlink sockets and
// unconnected ones never count; a route lookup when its destination and its
// source, if it has one yet, do. Loopback addresses pass only in namespaces
// watched with [Netns].Loopback (pods, where a sidecar talks to its
// application over lo). Without prefixes every IPv4 packet, socket call and
// route lookup of a watched namespace counts.
//
// Lifecycle: [Load] creates the maps and programs with the namespaces to
// watch, [Probe.Attach] starts counting, [Probe.Reset] zeroes the counts,
// [Probe.StartTrace] and [Probe.StopTrace] bracket one traced request, and
// [Probe.Close] detaches and frees everything. Nothing is pinned, so nothing
// outlives the process.
//
// The runner does not load the probe itself: nodes may be other machines.
// It starts one node agent per node in [Role] (see [Options]), each
// watching the namespaces of its node, and drives it through a [Client];
// the agent answers counters and trace steps whose namespaces and devices
// it has already named, and frees the probe when it exits.
package pathprobe
