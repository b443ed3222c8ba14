//go:build ignore

// Packet-path probe: counts, per (network namespace, device, event), how often
// packets and bytes cross the kernel's network stack, using only BTF-enabled
// raw tracepoints (tp_btf). kprobes and fentry are not used on purpose: they
// are unavailable on the machines this runs on.
//
// Only namespaces listed in netns_filter count, so host traffic never does.
// While tracing is on, each counted event is also written to a ring buffer,
// in the order the kernel saw them, to show the path of one request.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800

enum event_type {
	EVENT_TRANSMIT = 1,     // net:net_dev_xmit, driver accepted an IPv4 packet
	EVENT_RECEIVE = 2,      // net:netif_receive_skb, stack took an IPv4 packet
	EVENT_SOCK_SEND = 3,    // sock:sock_send_length, sendmsg moved bytes
	EVENT_SOCK_RECV = 4,    // sock:sock_recv_length, recvmsg moved bytes
	EVENT_ROUTE_LOOKUP = 5, // fib:fib_table_lookup, found a nexthop
};

struct count_key {
	__u64 netns;
	__u32 ifindex;
	enum event_type event;
};

struct event {
	__u64 time_ns;
	__u64 netns;
	__u32 ifindex;
	enum event_type type;
	__u32 len;
	__u32 cpu;
};

// Written by user space before attaching; value is unused.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} netns_filter SEC(".maps");

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

// Emits BTF for struct event, which no map declares, so bpf2go can generate
// its Go type. No program uses it, so its section is never loaded.
const struct event *unused_event __attribute__((unused));

static __always_inline __u64 net_inum(struct net *net)
{
	if (!net)
		return 0;
	return net->ns.inum;
}

static __always_inline void record(__u64 netns, __u32 ifindex, enum event_type type, __u32 len)
{
	if (!netns || !bpf_map_lookup_elem(&netns_filter, &netns))
		return;

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
	bpf_ringbuf_submit(e, 0);
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
	record(net_inum(dev->nd_net.net), dev->ifindex, EVENT_TRANSMIT, len);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(on_netif_receive_skb, struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;
	if (!dev || !is_ipv4(skb))
		return 0;
	record(net_inum(dev->nd_net.net), dev->ifindex, EVENT_RECEIVE, skb->len);
	return 0;
}

// Socket events carry the socket's bound device, 0 for almost every socket.
SEC("tp_btf/sock_send_length")
int BPF_PROG(on_sock_send_length, struct sock *sk, int ret, int flags)
{
	if (ret <= 0)
		return 0;
	record(net_inum(sk->__sk_common.skc_net.net), sk->__sk_common.skc_bound_dev_if,
	       EVENT_SOCK_SEND, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_sock_recv_length, struct sock *sk, int ret, int flags)
{
	// EAGAIN from a non-blocking read is not a crossing.
	if (ret <= 0)
		return 0;
	record(net_inum(sk->__sk_common.skc_net.net), sk->__sk_common.skc_bound_dev_if,
	       EVENT_SOCK_RECV, ret);
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
	record(net_inum(dev->nd_net.net), dev->ifindex, EVENT_ROUTE_LOOKUP, 0);
	return 0;
}

char __license[] SEC("license") = "Dual BSD/GPL";
