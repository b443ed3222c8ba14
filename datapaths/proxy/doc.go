// Package proxy is meshbench's own service-mesh proxy, the same code in every
// proxy-based datapath (sidecar, nodeproxy, ebpf) so that differences between
// datapaths come from the datapath and not from the proxy.
//
// # Listeners
//
//   - outbound: application connections that the datapath redirected to the
//     proxy. The proxy learns where each was going (OrigDstFunc; by default
//     SO_ORIGINAL_DST, which netfilter REDIRECT and the eBPF datapath's cgroup
//     getsockopt hook both answer), resolves service VIPs to endpoints with
//     its service table and sends the traffic along the Hop the PeerFunc names:
//     straight to the destination, or through a peer proxy's tunnel.
//   - inbound: connections redirected on their way into a pod; the proxy
//     forwards them to their original destination (the local application).
//   - tunnel: connections from peer proxies. With mTLS configured both ends
//     verify each other against the run's CA and check the peer's SPIFFE
//     identity; then the client sends "CONNECT <ip:port> HTTP/1.1" naming the
//     destination and the server answers "HTTP/1.1 200 OK" once it can reach it
//     (Istio's HBONE, on HTTP/1.1, one tunnel per connection). A tunnel
//     reaches only endpoints of the service table: a CONNECT to any other
//     address is answered 403, so an identity of the run's CA does not make
//     the proxy an open relay.
//   - waypoints (Config.Waypoints): outbound traffic to the VIP of a
//     service with a waypoint goes whole through a tunnel to the waypoint,
//     the CONNECT naming the VIP, instead of to an endpoint.
//
// A proxy configured as a waypoint (Config.Waypoint; Istio ambient's
// per-service L7 proxy) also accepts CONNECTs naming a VIP of its service
// table, and sends what its tunnels carry on as outbound traffic, through
// its PeerFunc (the destination's node proxy), instead of dialling the
// destination itself; in l7 mode it balances each request.
//
// With mTLS configured the proxy is strict, as Istio's STRICT
// PeerAuthentication: peers come through the tunnel listener, and every
// connection redirected to the inbound listener, which can only be
// plaintext from outside the mesh, is reset.
//
// Every connection the proxy opens carries SO_MARK (Config.Mark) so that the
// datapath's netfilter rules can leave the proxy's own traffic alone.
//
// # Modes
//
// L4 relays bytes both ways with half-close; between two plain TCP sockets
// the kernel splices them without copying through user space, unless
// Config.NoSplice (flag -splice=false) asks for read and write, as sockets
// fed by an sk_msg redirect need. L7 parses
// HTTP/1.1 requests, balances each one over the service's endpoints, forwards
// it over a keep-alive connection pool per upstream endpoint and streams the
// response back. A connection that opens with the HTTP/2 client preface (h2c
// with prior knowledge, as gRPC speaks it) is served as HTTP/2: every stream
// is a request, balanced and counted alike, forwarded on HTTP/2 connections
// the endpoint shares between streams, trailers included.
//
// # State
//
// The proxy holds a route per service (VIP and port to endpoints) and, per
// endpoint, its hop, counters, connection pool and — with mTLS — a client TLS
// configuration and session cache per expected peer identity. Memory grows
// with the number of services as it does in real proxies, and not with the
// traffic: routes to destinations outside the table (passthrough) are kept
// for at most MaxExtraRoutes of them.
//
// # Stats
//
// Stats returns counters under stable keys (constants Stat*):
//
//	conns_outbound    connections accepted on the outbound listener
//	conns_inbound     connections accepted on the inbound listener
//	tunnels           tunnels accepted on the tunnel listener
//	tunnels_dialed    tunnels opened to peer proxies
//	upstream_conns    upstream connections opened (tunnels included)
//	requests          HTTP requests received, HTTP/2 streams included (l7 only)
//	bytes_up          bytes forwarded toward upstreams (l7: request heads as rewritten)
//	bytes_down        bytes forwarded back toward clients (l7: response heads too)
//	errors            connections or requests that failed
//	dial_errors       upstream dials that failed
//	tls_errors        TLS handshakes that failed or were refused, either side
//	services          services in the table
//	endpoints         upstream addresses known (table and seen)
//	tunnels_refused   CONNECTs refused (403): not an endpoint of the table
//	plaintext_refused inbound connections reset: mTLS is required
//	routes_overflow   connections outside the table served without a kept route
//
// and per upstream endpoint that saw traffic, UpstreamKey(addr, c) for c in
// "conns", "requests" and "errors". In l4 mode bytes moved by splice are
// counted when their direction of the connection ends: counting as they
// go would mean copying in fixed steps, which cuts a message at each
// step's end into two segments.
//
// # Lifecycle
//
// New builds the proxy from a Config (pure: no sockets), Listen binds the
// listeners, Serve accepts until its context ends and then closes every
// listener and connection it owns before returning. Main wraps this as the
// `meshbench agent proxy` role.
package proxy
