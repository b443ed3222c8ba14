//go:build ignore

// Packet-path probe: counts, per (network namespace, device, event), how often
// packets and bytes cross the kernel's network stack, using only BTF-enabled
// raw tracepoints (tp_btf). kprobes and fentry are not used on purpose: they
// are unavailable on the machines this runs on.
//
// Only namespaces listed in netns_filter count, so host traffic never does.
// A namespace flagged NETNS_FILTER_ADDRESSES also counts only the run's own
// traffic, told by its IPv4 addresses (see run_traffic): on Kubernetes a
// node's namespace also carries the cluster's own traffic (kubelet and API
// server, the container runtime's streaming server on 127.0.0.1).
// While tracing is on, each counted event is also written to a ring buffer,
// in the order the kernel saw them, to show the path of one request.
//
// Device events are split by what the packet carries (see packet_event):
// TCP segments without payload (pure ACKs, window updates, and SYN, FIN and
// RST segments without data) are EVENT_TRANSMIT_ACK and EVENT_RECEIVE_ACK,
// every other IPv4 packet EVENT_TRANSMIT and EVENT_RECEIVE. Whether the
// receiver's ACK rides on its response or leaves on its own when the
// delayed-ACK timer fires first depends on scheduling, so only the
// data-carrying count is the same from run to run.
//
// A traced event also says who caused it (see event_context): the task it
// ran in, by thread group, name and cgroup, when the kernel did the work on
// a task's behalf (a send's transmit, a socket call), and no task when it
// ran in a softirq (softirq_entry to softirq_exit on its CPU, whichever task
// the softirq interrupted) or in a kernel thread (threaded NAPI): receives
// and forwarding happen there, for no process in particular.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define AF_INET 2
#define AF_INET6 10

enum event_type {
	EVENT_TRANSMIT = 1,     // net:net_dev_xmit, driver accepted an IPv4 packet
	EVENT_RECEIVE = 2,      // net:netif_receive_skb, stack took an IPv4 packet
	EVENT_SOCK_SEND = 3,    // sock:sock_send_length, sendmsg moved bytes
	EVENT_SOCK_RECV = 4,    // sock:sock_recv_length, recvmsg moved bytes; or a splice(2) read a TCP socket
	EVENT_ROUTE_LOOKUP = 5, // fib:fib_table_lookup, found a nexthop
	EVENT_TRANSMIT_ACK = 6, // net:net_dev_xmit, a TCP segment without payload
	EVENT_RECEIVE_ACK = 7,  // net:netif_receive_skb, a TCP segment without payload
};

// Flags of a watched namespace, the value of netns_filter.
enum netns_flag {
	// With NETNS_FILTER_ADDRESSES, loopback addresses (127.0.0.0/8) pass
	// too: a pod's processes talk over lo (a sidecar's legs to its app),
	// a node's never do for a request.
	NETNS_COUNT_LOOPBACK = 1 << 0,
	// Count only events whose addresses pass address_filter; without it
	// every IPv4 packet, socket and route lookup of the namespace counts.
	NETNS_FILTER_ADDRESSES = 1 << 1,
};

struct count_key {
	__u64 netns;
	__u32 ifindex;
	enum event_type event;
};

// Where an event ran, and so whether its task is the one that caused it.
enum event_context {
	CONTEXT_TASK = 1,    // a task's own work: a syscall and what it ran down to
	CONTEXT_SOFTIRQ = 2, // a softirq, on behalf of no task in particular
	CONTEXT_KTHREAD = 3, // a kernel thread (ksoftirqd outside softirq, threaded NAPI)
};

#define TASK_COMM_LEN 16
#define PF_KTHREAD 0x00200000

struct event {
	__u64 time_ns;
	__u64 netns;
	__u32 ifindex;
	enum event_type type;
	__u32 len;
	__u32 cpu;
	enum event_context context;
	// The task's thread group (process) id, cgroup v2 id and name, for
	// CONTEXT_TASK only; zero otherwise.
	__u32 pid;
	__u64 cgroup;
	char comm[TASK_COMM_LEN];
};

// Written by user space before attaching: the inode of every watched
// namespace with its enum netns_flag bits.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} netns_filter SEC(".maps");

// A key of address_filter: an IPv4 prefix, the address in network byte
// order as on the wire.
struct ipv4_prefix {
	__u32 prefixlen;
	__u8 addr[4];
};

// Written by user space before attaching: the prefixes of the run's
// addresses (pods, service virtual IPs, nodes). Value is unused.
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipv4_prefix);
	__type(value, __u8);
} address_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct count_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

enum trace_slot {
	TRACE_ON = 0,      // set by user space around one traced request
	TRACE_DROPPED = 1, // events lost because the ring buffer was full
	TRACE_SLOTS = 2,
};

// A map rather than globals: user space would reach globals through an mmap
// that lives until the Go garbage collector frees it, keeping the map alive
// after Close.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRACE_SLOTS);
	__type(key, enum trace_slot);
	__type(value, __u64);
} trace SEC(".maps");

enum splice_slot {
	SPLICE_SYSCALL = 0,   // splice(2)'s number on this architecture, set by user space
	SPLICE_IN_FLIGHT = 1, // entries in splices: calls between enter and exit
	SPLICE_SLOTS = 2,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SPLICE_SLOTS);
	__type(key, enum splice_slot);
	__type(value, __u64);
} splice_state SEC(".maps");

// What a splice(2) call in progress read, by thread: the socket's namespace
// and bound device once tcp_rcv_space_adjust saw a watched socket that
// counts, with counts set.
struct splice_read {
	__u64 netns;
	__u32 ifindex;
	__u32 counts;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct splice_read);
} splices SEC(".maps");

// Whether each CPU is running a softirq: set by softirq_entry, cleared by
// softirq_exit. Softirqs do not nest on a CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} in_softirq SEC(".maps");

// Emits BTF for struct event, which no map declares, so bpf2go can generate
// its Go type. No program uses it, so its section is never loaded.
const struct event *unused_event __attribute__((unused));

static __always_inline __u64 net_inum(struct net *net)
{
	if (!net)
		return 0;
	return net->ns.inum;
}

// watched returns the enum netns_flag bits of the namespace, or -1 when it
// is not watched.
static __always_inline int watched(__u64 netns)
{
	if (!netns)
		return -1;
	__u8 *flags = bpf_map_lookup_elem(&netns_filter, &netns);
	if (!flags)
		return -1;
	return *flags;
}

// address_passes says whether one address of an event may be the run's.
static __always_inline bool address_passes(int flags, __be32 addr)
{
	// Decided before the trie, so that a node's loopback never counts
	// whatever prefixes user space wrote.
	if ((addr & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000))
		return flags & NETNS_COUNT_LOOPBACK;
	struct ipv4_prefix key = {.prefixlen = 32};
	__builtin_memcpy(key.addr, &addr, sizeof(addr));
	return bpf_map_lookup_elem(&address_filter, &key) != NULL;
}

// run_traffic says whether an event between saddr and daddr counts in a
// namespace with flags: both ends must be the run's. Traffic between one of
// the run's addresses and another (a pod's to the API server, a node's
// kubelet) is the cluster's, not a request's.
static __always_inline bool run_traffic(int flags, __be32 saddr, __be32 daddr)
{
	if (!(flags & NETNS_FILTER_ADDRESSES))
		return true;
	return address_passes(flags, saddr) && address_passes(flags, daddr);
}

// The first 20 bytes of an IPv4 header as on the wire. vmlinux.h's iphdr
// has bitfields and CO-RE relocations, neither of which a copy needs.
struct ipv4_header {
	__u8 version_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

// The first 20 bytes of a TCP header as on the wire.
struct tcp_header {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res; // data offset in 32-bit words, in the high nibble
	__u8 flags;
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};

// packet_event returns the event of the IPv4 packet whose header starts at
// l3 (data, the EVENT_TRANSMIT or EVENT_RECEIVE given, or its _ACK
// counterpart for a TCP segment without payload), or 0 when it does not
// count in a namespace with flags. A header that cannot be read, or is not
// IPv4 after all, does not count when the namespace filters addresses and
// counts as data otherwise. So does anything that is not a whole TCP
// segment with a readable header: UDP, ICMP, fragments, and GSO packets
// too large for tot_len (BIG TCP, tot_len 0), which carry data anyway.
static __always_inline enum event_type packet_event(int flags, const void *l3, enum event_type data,
						    enum event_type ack)
{
	struct ipv4_header ip;
	if (bpf_probe_read_kernel(&ip, sizeof(ip), l3) || ip.version_ihl >> 4 != 4)
		return flags & NETNS_FILTER_ADDRESSES ? 0 : data;
	if (!run_traffic(flags, ip.saddr, ip.daddr))
		return 0;
	// Not TCP, or a fragment (offset or more-fragments set): no TCP header
	// to look at.
	if (ip.protocol != IPPROTO_TCP || (ip.frag_off & bpf_htons(0x3fff)))
		return data;
	__u32 ihl = (ip.version_ihl & 0x0f) * 4;
	__u32 tot_len = bpf_ntohs(ip.tot_len);
	if (ihl < sizeof(ip) || tot_len < ihl + sizeof(struct tcp_header))
		return data;
	struct tcp_header tcp;
	if (bpf_probe_read_kernel(&tcp, sizeof(tcp), l3 + ihl))
		return data;
	__u32 doff = (tcp.doff_res >> 4) * 4;
	return tot_len <= ihl + doff ? ack : data;
}

// v4mapped returns the IPv4 address of an IPv4-mapped IPv6 address
// (::ffff:a.b.c.d), or 0 for any other.
static __always_inline __be32 v4mapped(const struct in6_addr *a)
{
	if (a->in6_u.u6_addr32[0] || a->in6_u.u6_addr32[1] ||
	    a->in6_u.u6_addr32[2] != bpf_htonl(0xffff))
		return 0;
	return a->in6_u.u6_addr32[3];
}

// socket_counts says whether a sendmsg or recvmsg on sk counts in a
// namespace with flags. When filtering, only TCP and UDP sockets over IPv4
// (AF_INET, or AF_INET6 with IPv4-mapped addresses, as Go's dual-stack
// listeners accept them) with both addresses the run's count. Unix and
// netlink sockets never carry a request between pods. A socket without a
// peer or local address (unconnected UDP, not yet bound) does not count
// either: its traffic cannot be told to be the run's, and requests only
// use connected TCP.
static __always_inline bool socket_counts(int flags, struct sock *sk)
{
	if (!(flags & NETNS_FILTER_ADDRESSES))
		return true;
	if (sk->sk_protocol != IPPROTO_TCP && sk->sk_protocol != IPPROTO_UDP)
		return false;
	__be32 saddr, daddr;
	switch (sk->__sk_common.skc_family) {
	case AF_INET:
		saddr = sk->__sk_common.skc_rcv_saddr;
		daddr = sk->__sk_common.skc_daddr;
		break;
	case AF_INET6:
		saddr = v4mapped(&sk->__sk_common.skc_v6_rcv_saddr);
		daddr = v4mapped(&sk->__sk_common.skc_v6_daddr);
		break;
	default:
		return false;
	}
	if (!saddr || !daddr)
		return false;
	return run_traffic(flags, saddr, daddr);
}

// record counts one event of a watched namespace and, while tracing, writes
// it to the ring buffer.
static __always_inline void record(__u64 netns, __u32 ifindex, enum event_type type, __u32 len)
{
	struct count_key key = {.netns = netns, .ifindex = ifindex, .event = type};
	__u64 *n = bpf_map_lookup_elem(&counts, &key);
	if (n) {
		// Per-CPU value: no other CPU writes it.
		*n += 1;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	}

	enum trace_slot slot = TRACE_ON;
	__u64 *on = bpf_map_lookup_elem(&trace, &slot);
	if (!on || !*on)
		return;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		slot = TRACE_DROPPED;
		__u64 *dropped = bpf_map_lookup_elem(&trace, &slot);
		if (dropped)
			__sync_fetch_and_add(dropped, 1);
		return;
	}
	// The reservation fixes the event's place in the ring; the timestamp is
	// only informative.
	e->time_ns = bpf_ktime_get_ns();
	e->netns = netns;
	e->ifindex = ifindex;
	e->type = type;
	e->len = len;
	e->cpu = bpf_get_smp_processor_id();
	e->context = CONTEXT_TASK;
	e->pid = 0;
	e->cgroup = 0;
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	__u32 zero = 0;
	__u32 *softirq = bpf_map_lookup_elem(&in_softirq, &zero);
	struct task_struct *task = bpf_get_current_task_btf();
	if (softirq && *softirq)
		e->context = CONTEXT_SOFTIRQ;
	else if (task->flags & PF_KTHREAD)
		e->context = CONTEXT_KTHREAD;
	if (e->context == CONTEXT_TASK) {
		e->pid = bpf_get_current_pid_tgid() >> 32;
		e->cgroup = bpf_get_current_cgroup_id();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	}
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void set_softirq(__u32 on)
{
	__u32 zero = 0;
	__u32 *softirq = bpf_map_lookup_elem(&in_softirq, &zero);
	if (softirq)
		*softirq = on;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(on_softirq_entry, unsigned int vec_nr)
{
	set_softirq(1);
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(on_softirq_exit, unsigned int vec_nr)
{
	set_softirq(0);
	return 0;
}

// Only IPv4 packets count. meshbench clusters are IPv4; ARP, and the IPv6
// link-local chatter of fresh interfaces (router and neighbour
// solicitations, MLD), follow timers, not requests, and would make
// per-request figures nondeterministic.
static __always_inline bool is_ipv4(struct sk_buff *skb)
{
	return skb->protocol == bpf_htons(ETH_P_IP);
}

SEC("tp_btf/net_dev_xmit")
int BPF_PROG(on_net_dev_xmit, struct sk_buff *skb, int rc, struct net_device *dev, unsigned int len)
{
	// NETDEV_TX_OK; a busy driver gets the same packet again later.
	if (rc != 0 || !dev || !is_ipv4(skb))
		return 0;
	__u64 netns = net_inum(dev->nd_net.net);
	int flags = watched(netns);
	if (flags < 0)
		return 0;
	// On transmit skb->data is the link-layer header; the IP layer set
	// network_header when it built the packet (or the receiving device's
	// stack when it forwards or bridges one). The driver has taken the
	// packet by now: a veth's peer has only queued it on this CPU, but a
	// real NIC may complete it on another, so the read may fail, and then
	// the packet does not count (or counts as data when the namespace
	// does not filter addresses).
	enum event_type type = packet_event(flags, skb->head + skb->network_header, EVENT_TRANSMIT,
					    EVENT_TRANSMIT_ACK);
	if (!type)
		return 0;
	record(netns, dev->ifindex, type, len);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(on_netif_receive_skb, struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;
	if (!dev || !is_ipv4(skb))
		return 0;
	__u64 netns = net_inum(dev->nd_net.net);
	int flags = watched(netns);
	if (flags < 0)
		return 0;
	// The tracepoint fires before __netif_receive_skb_core resets
	// network_header, which GRO or the sender may have left elsewhere;
	// eth_type_trans has already pulled the link-layer header, so
	// skb->data is the IP header.
	enum event_type type = packet_event(flags, skb->data, EVENT_RECEIVE, EVENT_RECEIVE_ACK);
	if (!type)
		return 0;
	record(netns, dev->ifindex, type, skb->len);
	return 0;
}

// Socket events carry the socket's bound device, 0 for almost every socket.
// A call that moved no bytes (ret <= 0; EAGAIN from a non-blocking read) is
// not a crossing.
static __always_inline void record_socket(struct sock *sk, int ret, enum event_type type)
{
	if (ret <= 0)
		return;
	__u64 netns = net_inum(sk->__sk_common.skc_net.net);
	int flags = watched(netns);
	if (flags < 0 || !socket_counts(flags, sk))
		return;
	record(netns, sk->__sk_common.skc_bound_dev_if, type, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_sock_send_length, struct sock *sk, int ret, int flags)
{
	record_socket(sk, ret, EVENT_SOCK_SEND);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_sock_recv_length, struct sock *sk, int ret, int flags)
{
	record_socket(sk, ret, EVENT_SOCK_RECV);
	return 0;
}

// A splice(2) from a TCP socket (how a proxy such as meshbench's l4 moves
// bytes without copying them) reads the socket through tcp_read_sock, which
// never reaches sock:sock_recv_length: its writes do, through sock_sendmsg.
// Three programs count such a read as one socket receive: sys_enter opens
// an entry for the calling thread, tcp_rcv_space_adjust (which
// tcp_read_sock calls for the socket it read) fills it in, and sys_exit
// counts it if the call moved bytes. Outside splice calls sys_enter costs
// a comparison and sys_exit an array lookup.
static __always_inline __u64 *splice_slot(enum splice_slot slot)
{
	return bpf_map_lookup_elem(&splice_state, &slot);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	__u64 *nr = splice_slot(SPLICE_SYSCALL);
	if (!nr || id != *nr)
		return 0;
	__u64 *in_flight = splice_slot(SPLICE_IN_FLIGHT);
	if (!in_flight)
		return 0;
	__u64 tid = bpf_get_current_pid_tgid();
	struct splice_read r = {};
	if (bpf_map_update_elem(&splices, &tid, &r, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(in_flight, 1);
	return 0;
}

SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(on_tcp_rcv_space_adjust, struct sock *sk)
{
	__u64 *in_flight = splice_slot(SPLICE_IN_FLIGHT);
	if (!in_flight || !*in_flight)
		return 0;
	__u64 tid = bpf_get_current_pid_tgid();
	struct splice_read *r = bpf_map_lookup_elem(&splices, &tid);
	if (!r)
		return 0;
	__u64 netns = net_inum(sk->__sk_common.skc_net.net);
	int flags = watched(netns);
	if (flags < 0 || !socket_counts(flags, sk))
		return 0;
	r->netns = netns;
	r->ifindex = sk->__sk_common.skc_bound_dev_if;
	r->counts = 1;
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 *in_flight = splice_slot(SPLICE_IN_FLIGHT);
	if (!in_flight || !*in_flight)
		return 0;
	__u64 tid = bpf_get_current_pid_tgid();
	struct splice_read *r = bpf_map_lookup_elem(&splices, &tid);
	if (!r)
		return 0;
	struct splice_read done = *r;
	if (bpf_map_delete_elem(&splices, &tid) == 0)
		__sync_fetch_and_add(in_flight, -1);
	if (done.counts && ret > 0)
		record(done.netns, done.ifindex, EVENT_SOCK_RECV, ret);
	return 0;
}

// The lookup itself carries no namespace; the nexthop's device does, so only
// lookups that resolved a nexthop are counted, under that device.
SEC("tp_btf/fib_table_lookup")
int BPF_PROG(on_fib_table_lookup, u32 tb_id, const struct flowi4 *flp,
	     const struct fib_nh_common *nhc, int err)
{
	if (err || !nhc)
		return 0;
	struct net_device *dev = nhc->nhc_dev;
	if (!dev)
		return 0;
	__u64 netns = net_inum(dev->nd_net.net);
	int flags = watched(netns);
	if (flags < 0)
		return 0;
	// A socket's connect looks its route up before it has a source
	// address (saddr 0), then again with the one it picked: an
	// unspecified source is no reason to leave a lookup out.
	__be32 saddr = flp->saddr, daddr = flp->daddr;
	if (!saddr)
		saddr = daddr;
	if (!run_traffic(flags, saddr, daddr))
		return 0;
	record(netns, dev->ifindex, EVENT_ROUTE_LOOKUP, 0);
	return 0;
}

char __license[] SEC("license") = "Dual BSD/GPL";
