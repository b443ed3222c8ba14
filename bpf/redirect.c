//go:build ignore

// eBPF datapath in the Cilium/Merbridge model, one instance per node. With
// the node proxy:
//
//   cgroup/connect4    steers connections for service VIPs to the node proxy
//                      and remembers the original destination;
//   sockops            puts both ends of an app<->proxy connection, and of
//                      a connection from the proxy to a pod on this node,
//                      into a sockhash once established, and counts the
//                      steered ones per source address (src_conns);
//   sk_msg             moves bytes between the two sockets of each such
//                      connection directly, bypassing TCP/IP between them;
//   cgroup/getsockopt  answers SO_ORIGINAL_DST on the proxy's accepted socket
//                      from the remembered destination, so no netfilter rule
//                      or conntrack entry is needed;
//   tcx/ingress        delivers packets of the mesh's own connections to
//                      local pods straight into the pod's namespace with
//                      bpf_redirect_peer, and leaves every other packet to
//                      the node's stack (see redirect_to_peer).
//
// With the proxy off, a second connect4 program (balance_connect4, which
// rewrites the VIP to a backend), a sockops program recording the tuples of
// the connections it balanced (track_balanced) and the tcx program are
// loaded.
//
// Ports in map keys and values are in host byte order, addresses in network
// byte order (as they sit in packets and sockets).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOL_IP 0
#define SO_ORIGINAL_DST 80
#define ETH_P_IP 0x0800
// pkt_cls.h, not in BTF
#define TC_ACT_REDIRECT 7

enum counter {
	COUNTER_STEERED = 0,   // connections sent to the node proxy
	COUNTER_BALANCED = 1,  // connections sent straight to a backend (proxy off)
	COUNTER_SOCKETS = 2,   // sockets added to the sockhash
	COUNTER_MESSAGES = 3,  // sk_msg messages redirected socket to socket
	COUNTER_BYTES = 4,     // bytes in those messages
	COUNTER_PEER = 5,      // packets delivered with bpf_redirect_peer
	COUNTER_ORIG_DST = 6,  // SO_ORIGINAL_DST answers
	COUNTER_LOCAL = 7,     // of COUNTER_SOCKETS, ends of proxy->local pod connections
	COUNTER_MAX = 8,
};

struct svc_key {
	__be32 addr;
	__u16 port;
	// Index of the backend in the backends map; always 0 in services.
	__u16 slot;
};

struct svc {
	__u32 backends;
};

struct endpoint {
	__be32 addr;
	__u16 port;
	__u16 pad;
};

// One end of a TCP connection as that socket sees it.
struct tuple {
	__be32 local_addr;
	__be32 remote_addr;
	__u16 local_port;
	__u16 remote_port;
};

struct pod {
	__u32 host_ifindex;
	// With strict mTLS, the pod's application port: TCP to it takes the
	// node's stack, whose netfilter refuses what is not the proxy's; 0
	// when mTLS is off.
	__u16 strict_port;
	__u16 pad;
};

struct node_config {
	__be32 proxy_addr;
	__u16 proxy_port;
	__u16 pad;
};

// The node proxy's address, written by user space before anything attaches.
// A map rather than constants: user space would reach constants through an
// mmap that lives until the Go garbage collector frees it, keeping the map
// alive after Close.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct node_config);
} node_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct svc_key);
	__type(value, struct svc);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct svc_key);
	__type(value, struct endpoint);
} backends SEC(".maps");

// Local pod IPv4 address -> ifindex of its host-side veth.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __be32);
	__type(value, struct pod);
} pods SEC(".maps");

// Socket cookie of a steered app socket -> its original destination, only
// while the handshake runs. Entries of connections that never establish age
// out (LRU).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct endpoint);
} orig_by_cookie SEC(".maps");

// App socket's tuple (app -> proxy) -> original destination.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tuple);
	__type(value, struct endpoint);
} orig_by_tuple SEC(".maps");

// The proxy's socket's tuple (proxy -> local pod), from the proxy's end
// establishing until the pod's end does. Entries of connections whose pod
// end never establishes age out (LRU).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tuple);
	__type(value, __u8);
} local_by_tuple SEC(".maps");

// Socket cookie of a socket balance_connect4 sent to a backend -> 1, until
// the socket's SYN goes out (track_balanced). Entries of sockets that never
// send one age out (LRU).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} balanced_by_cookie SEC(".maps");

// Tuple of a connection balance_connect4 sent to a backend, as its client
// sees it (local = client), from before its SYN: the mesh's own
// connections, whose packets need neither the node's NAT nor its
// conntrack, and which alone redirect_to_peer delivers past the stack.
// Closed connections' entries age out (LRU).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tuple);
	__type(value, __u8);
} mesh_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 16384);
	__type(key, struct tuple);
	__type(value, __u64);
} sock_hash SEC(".maps");

// Source address of a steered app socket -> connections connect4 steered
// from it that established: coverage per source, which bpftool can dump.
// 512 holds a node's 250 pods and its own addresses; more age out (LRU).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 512);
	__type(key, __be32);
	__type(value, __u64);
} src_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, enum counter);
	__type(value, __u64);
} counters SEC(".maps");

// Whether a sockops or sk_msg context is an IPv4 connection: an AF_INET
// socket, or an AF_INET6 one with IPv4-mapped addresses (what a Go server
// listening on ":port" accepts), whose *_ip4 fields the kernel fills too.
#define IS_IPV4(ctx)                                                    \
	((ctx)->family == AF_INET ||                                    \
	 ((ctx)->family == AF_INET6 && (ctx)->remote_ip6[0] == 0 &&     \
	  (ctx)->remote_ip6[1] == 0 &&                                  \
	  (ctx)->remote_ip6[2] == bpf_htonl(0x0000ffff)))

static __always_inline void count(enum counter idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += n;
}

// Counts one steered connection from src in src_conns.
static __always_inline void count_source(__be32 src)
{
	__u64 *v = bpf_map_lookup_elem(&src_conns, &src);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	__u64 one = 1;
	if (bpf_map_update_elem(&src_conns, &src, &one, BPF_NOEXIST))
		// Another CPU added it first.
		if ((v = bpf_map_lookup_elem(&src_conns, &src)))
			__sync_fetch_and_add(v, 1);
}

static __always_inline struct node_config *get_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&node_config, &zero);
}

static __always_inline struct tuple swap(struct tuple t)
{
	struct tuple s = {
		.local_addr = t.remote_addr,
		.remote_addr = t.local_addr,
		.local_port = t.remote_port,
		.remote_port = t.local_port,
	};
	return s;
}

// Looks up the service ctx connects to, if any; TCP only.
static __always_inline struct svc *service(struct bpf_sock_addr *ctx, struct svc_key *key)
{
	if (ctx->protocol != IPPROTO_TCP)
		return NULL;
	key->addr = ctx->user_ip4;
	key->port = bpf_ntohs((__u16)ctx->user_port);
	key->slot = 0;
	return bpf_map_lookup_elem(&services, key);
}

SEC("cgroup/connect4")
int steer_connect4(struct bpf_sock_addr *ctx)
{
	struct svc_key key;
	struct node_config *cfg = get_config();
	if (!cfg || !service(ctx, &key))
		return 1;

	struct endpoint orig = {.addr = key.addr, .port = key.port};
	__u64 cookie = bpf_get_socket_cookie(ctx);
	if (bpf_map_update_elem(&orig_by_cookie, &cookie, &orig, BPF_ANY))
		return 1;
	ctx->user_ip4 = cfg->proxy_addr;
	ctx->user_port = bpf_htons(cfg->proxy_port);
	count(COUNTER_STEERED, 1);
	return 1;
}

SEC("cgroup/connect4")
int balance_connect4(struct bpf_sock_addr *ctx)
{
	struct svc_key key;
	struct svc *svc = service(ctx, &key);
	if (!svc || !svc->backends)
		return 1;

	key.slot = bpf_get_prandom_u32() % svc->backends;
	struct endpoint *be = bpf_map_lookup_elem(&backends, &key);
	if (!be)
		return 1;
	ctx->user_ip4 = be->addr;
	ctx->user_port = bpf_htons(be->port);
	count(COUNTER_BALANCED, 1);
	// Without the entry the connection still works, through the stack.
	__u64 cookie = bpf_get_socket_cookie(ctx);
	__u8 one = 1;
	bpf_map_update_elem(&balanced_by_cookie, &cookie, &one, BPF_ANY);
	return 1;
}

// Records in mesh_flows the tuple of a connection balance_connect4 sent to a
// backend, when the kernel is about to send its SYN: connect4 runs before
// the socket has a source port, this callback after, and before any packet
// of the connection reaches a tc program.
SEC("sockops")
int track_balanced(struct bpf_sock_ops *skops)
{
	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB || !IS_IPV4(skops))
		return 1;
	__u64 cookie = bpf_get_socket_cookie(skops);
	if (!bpf_map_lookup_elem(&balanced_by_cookie, &cookie))
		return 1;
	struct tuple t = {
		.local_addr = skops->local_ip4,
		.remote_addr = skops->remote_ip4,
		.local_port = (__u16)skops->local_port,
		.remote_port = (__u16)bpf_ntohl(skops->remote_port),
	};
	__u8 one = 1;
	bpf_map_update_elem(&mesh_flows, &t, &one, BPF_ANY);
	bpf_map_delete_elem(&balanced_by_cookie, &cookie);
	return 1;
}

// Whether t, an active end that is not an app's steered socket, is the
// proxy's connection to a pod on this node: the remote end is a local pod
// and the local end is not (sockops runs outside pods only in the proxy's
// cgroup, so this leaves pod-to-pod connections alone).
static __always_inline bool proxy_to_local_pod(struct tuple *t)
{
	return bpf_map_lookup_elem(&pods, &t->remote_addr) &&
	       !bpf_map_lookup_elem(&pods, &t->local_addr);
}

SEC("sockops")
int track_established(struct bpf_sock_ops *skops)
{
	struct node_config *cfg = get_config();
	if (!cfg || !IS_IPV4(skops))
		return 1;

	struct tuple t = {
		.local_addr = skops->local_ip4,
		.remote_addr = skops->remote_ip4,
		.local_port = (__u16)skops->local_port,
		.remote_port = (__u16)bpf_ntohl(skops->remote_port),
	};

	bool local = false; // the proxy's connection to a local pod
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB: {
		if (t.remote_addr != cfg->proxy_addr || t.remote_port != cfg->proxy_port) {
			if (!proxy_to_local_pod(&t))
				return 1;
			// The pod's end establishes after this end's ACK, as
			// below, and finds the entry.
			__u8 one = 1;
			if (bpf_map_update_elem(&local_by_tuple, &t, &one, BPF_ANY))
				return 1;
			local = true;
			break;
		}
		// An app socket that connect4 steered to the proxy.
		__u64 cookie = bpf_get_socket_cookie(skops);
		struct endpoint *orig = bpf_map_lookup_elem(&orig_by_cookie, &cookie);
		if (!orig) {
			// Not steered (the app dialled the proxy itself): forget
			// a steered connection that had the same tuple before.
			bpf_map_delete_elem(&orig_by_tuple, &t);
			return 1;
		}
		// The proxy's end reaches PASSIVE_ESTABLISHED only after this
		// end has sent its ACK, so the entry is there in time.
		if (bpf_map_update_elem(&orig_by_tuple, &t, orig, BPF_ANY))
			return 1;
		bpf_map_delete_elem(&orig_by_cookie, &cookie);
		count_source(t.local_addr);
		break;
	}
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB: {
		// The proxy's end of a connection from a steered local app, or
		// a local pod's end of a connection from the proxy.
		struct tuple peer = swap(t);
		if (bpf_map_lookup_elem(&orig_by_tuple, &peer))
			break;
		if (bpf_map_delete_elem(&local_by_tuple, &peer))
			return 1;
		local = true;
		break;
	}
	default:
		return 1;
	}

	if (bpf_sock_hash_update(skops, &sock_hash, &t, BPF_ANY))
		return 1;
	count(COUNTER_SOCKETS, 1);
	if (local)
		count(COUNTER_LOCAL, 1);
	return 1;
}

SEC("sk_msg")
int redirect_msg(struct sk_msg_md *msg)
{
	if (!IS_IPV4(msg))
		return SK_PASS;

	// The peer socket's key is this socket's tuple seen from the other end.
	struct tuple peer = {
		.local_addr = msg->remote_ip4,
		.remote_addr = msg->local_ip4,
		.local_port = (__u16)bpf_ntohl(msg->remote_port),
		.remote_port = (__u16)msg->local_port,
	};
	__u32 size = msg->size;
	if (bpf_msg_redirect_hash(msg, &sock_hash, &peer, BPF_F_INGRESS) == SK_PASS) {
		count(COUNTER_MESSAGES, 1);
		count(COUNTER_BYTES, size);
	}
	// Without a peer in the map the message takes the normal TCP path.
	return SK_PASS;
}

SEC("cgroup/getsockopt")
int answer_orig_dst(struct bpf_sockopt *ctx)
{
	if (ctx->level != SOL_IP || ctx->optname != SO_ORIGINAL_DST)
		return 1;

	struct bpf_sock *sk = ctx->sk;
	if (!sk || sk->family != AF_INET || sk->protocol != IPPROTO_TCP)
		return 1;

	// The proxy's socket: local is the proxy, remote the app.
	struct tuple app = {
		.local_addr = sk->dst_ip4,
		.remote_addr = sk->src_ip4,
		.local_port = bpf_ntohs(sk->dst_port),
		.remote_port = (__u16)sk->src_port,
	};
	struct endpoint *orig = bpf_map_lookup_elem(&orig_by_tuple, &app);
	if (!orig)
		return 1;

	struct sockaddr_in *sa = ctx->optval;
	if ((void *)(sa + 1) > ctx->optval_end)
		return 1;
	sa->sin_family = AF_INET;
	sa->sin_port = bpf_htons(orig->port);
	sa->sin_addr.s_addr = orig->addr;
	ctx->optlen = sizeof(*sa);
	// Overrides ENOPROTOOPT/ENOENT from netfilter, which knows nothing.
	ctx->retval = 0;
	count(COUNTER_ORIG_DST, 1);
	return 1;
}

// Delivers a packet for a local pod straight into the pod's namespace, past
// the node's routing, netfilter and conntrack, only when it belongs to one of
// the mesh's own connections (mesh_flows, looked up in both directions).
// Everything else takes the stack (TCX_NEXT): connections opened before the
// datapath came, whose replies need the node's service NAT reversed, and
// connections from outside the mesh, whose replies the node's conntrack
// must have seen the start of, or its forward filter drops them as invalid.
SEC("tcx/ingress")
int redirect_to_peer(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TCX_NEXT;
	struct iphdr *ip = (void *)(eth + 1);
	// IP options would move the TCP header: such packets take the stack.
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP || ip->ihl != 5)
		return TCX_NEXT;
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end)
		return TCX_NEXT;

	__be32 daddr = ip->daddr;
	struct pod *pod = bpf_map_lookup_elem(&pods, &daddr);
	if (!pod || pod->host_ifindex == skb->ingress_ifindex)
		return TCX_NEXT;
	if (pod->strict_port && bpf_ntohs(tcp->dest) == pod->strict_port)
		return TCX_NEXT;

	// The packet's tuple as its sender sees it: the client's view when
	// the client sent it, the swapped one when the server did.
	struct tuple t = {
		.local_addr = ip->saddr,
		.remote_addr = ip->daddr,
		.local_port = bpf_ntohs(tcp->source),
		.remote_port = bpf_ntohs(tcp->dest),
	};
	struct tuple back = swap(t);
	if (!bpf_map_lookup_elem(&mesh_flows, &t) && !bpf_map_lookup_elem(&mesh_flows, &back))
		return TCX_NEXT;

	if (bpf_redirect_peer(pod->host_ifindex, 0) != TC_ACT_REDIRECT)
		return TCX_NEXT;
	count(COUNTER_PEER, 1);
	return TCX_REDIRECT;
}

char __license[] SEC("license") = "Dual BSD/GPL";
