// Package scenarios owns meshbench's scenario format: the YAML file that says
// which cluster to build, which datapaths to compare and what load to drive
// through them. It reads a file strictly, fills in defaults, validates, and
// expands the result into the matrix of cases the runner executes. Nothing in
// this package touches the system: a Spec is data.
//
// # Lifecycle
//
//	Resolve(nameOrPath, known)     built-in name or file path, then all of:
//	  Load / LoadFile / Builtin    strict decoding into a Spec
//	  SetDefaults(spec, known)     fill what the file left out
//	  Validate(spec, known)        every problem, with file, line and field
//	Expand(spec)                   []Case, one per point of the matrix
//	Hash(spec, known)              identifies the scenario in results
//
// This package knows no datapath by name: known, a Datapaths list given by
// the caller (the binary's datapath registry), says which names a scenario
// may use, which is the default, and which options apply to each.
//
// Every mistake in a scenario is reported as a *FieldError, in the form
//
//	quick.yaml:12: load.rates[0]: rate must be > 0; use a positive requests-per-second value
//
// several joined with errors.Join (at most 20 shown, then a count of the
// rest), and all wrap ErrInvalid, which the command line maps to exit code 2.
// Resolve reports a file's problems in one go: beside fields it cannot
// decode (unknown, or of the wrong type) it validates the rest, and with a
// YAML syntax error it reports the problems of the lines before it and says
// that the lines after were not checked.
//
// # File format
//
// A scenario is one YAML document. The reference below is reference.yaml,
// which `meshbench explain` prints; `meshbench show NAME` writes a built-in
// out in the same form, to start a file from. Unknown fields are errors (with a
// suggestion when one is close), so a misspelt field never silently keeps
// its default. A field left out, or written as null, gets its default; a field
// written explicitly keeps its value even when it is zero, so "warmup: 0s"
// means no warm-up. (In a Spec built in code, where nothing was written,
// every zero field gets its default.) Lists marked "matrix" are dimensions of the case matrix
// (see Expand); they must not be empty or repeat a value. Durations are
// written with a unit: 500ms, 10s, 1m30s.
//
//	apiVersion: meshbench/v1alpha1   # required, exactly this
//	kind: Scenario                   # required, exactly this
//	metadata:                        # names the scenario in results and reports
//	  name: quick                    # default: the file name without extension
//	  description: one line saying what the scenario shows   # shown by meshbench list
//	topology:                        # the cluster every case gets, fresh
//	  nodes: 3                       # default 3; 1 to 64
//	  services: [1]                  # matrix; default [1]; server services, each 1 to 1000
//	  podsPerService: 1              # default 1; server pods behind each service, 1 to 250
//	  clientPods: 1                  # default 1; load-generating pods, all on node 0, 1 to 250
//	  placements: [cross-node]       # matrix; default [cross-node]; same-node, cross-node, spread
//	  podCIDR: 10.244.0.0/16         # default; IPv4, one /24 per node
//	  serviceCIDR: 10.96.0.0/16      # default; IPv4, one virtual IP per service
//	  unmeshed:                      # default none (these values are an example); traffic sources outside the mesh, each sending what one client pod sends to the same services
//	    namespaceInject: true        # default true; the namespace's meshbench.dev/inject label, the default of pods without one; mislabelled pods get "false", or no label when this is false
//	    sources: [{kind: mislabelled, count: 1}, {kind: host, count: 1}]   # one entry per kind, count at least 1: mislabelled (client pods the injector skips, on node 0, with clientPods at most 250), host (load agents in node 0's network namespace, outside any pod, at most 64)
//	datapaths: [none]                # matrix; default [none]; none, sidecar, nodeproxy, ebpf, or variants defined under datapathOptions
//	datapathOptions:                 # per datapath name, or per variant; every field optional
//	  nodeproxy:                     # a datapath named in datapaths, or a variant of one (see datapath)
//	    datapath: ""                 # only in a variant: the datapath it runs, under the entry's own name, which datapaths lists beside the datapath itself (nodeproxy-waypoint: {datapath: nodeproxy, mtls: true, waypoint: true})
//	    mode: l4                     # default l4; l4 (byte stream) or l7 (HTTP aware)
//	    mtls: false                  # default false; mutual TLS between proxies
//	    proxy: "on"                  # default on; off only for ebpf
//	    waypoint: false              # default false; nodeproxy only, needs mtls and HTTP (http1, h2c, grpc): an l7 waypoint proxy per server service (Istio ambient), node proxies stay l4
//	    waypointNode: ""             # with a waypoint only, then default server-node; where each waypoint's pod runs: server-node (its service's first pod's node) or client-node
//	    encryption: ""               # default none; wireguard: a WireGuard tunnel between every two nodes (none, nodeproxy, ebpf; not with proxy off)
//	    attach: pod                  # default pod; pod (each announced pod's cgroup and veth) or node (the node's pod cgroup root and every pod-facing device, ebpf only)
//	load:                            # what the client pods send
//	  protocol: [http1]              # matrix; default [http1]; http1, h2c (HTTP/2 cleartext), grpc (unary echo), tcp-rr (raw TCP exchanges), tcp-crr (tcp-rr, a new connection each), stream (bulk transfer: Gbit/s, no rate)
//	  client: ""                     # default lean; http1 and h2c only: lean (the agent's own workers, each sending its request at the intended time) or vegeta (vegeta's attacker, to cross-check)
//	  rates: [1000]                  # matrix; default [1000]; requests per second from all client pods together, open loop, 1 to 200000
//	  duration: 10s                  # default 10s; measured time per case and repetition, > 0, at most 1h
//	  warmup: 2s                     # default 2s; load before measuring, excluded; 0s to 10m
//	  connections: [8]               # matrix; default [8]; keep-alive connections per client pod, 1 to 4096
//	  connectionRequests: 0          # default 0 (never); http1 with the lean client and tcp-rr only: each connection closes after this many requests and the next opens a new one
//	  requestBytes: [0]              # matrix; default [0]; request body size, 0 to 16 MiB
//	  responseBytes: [1024]          # matrix; default [1024]; response body size, 0 to 16 MiB
//	  serviceTime: 0s                # default 0s; time the echo server waits before replying, 0s to 10s
//	  repetitions: 1                 # default 1; runs of each case, for medians and intervals, 1 to 100
//	  probeRequests: 100             # default 100; requests the packet-path probe traces, 1 to 100000
//	  search:                        # absent by default; a search for each datapath's highest sustainable rate instead of rates (http1, h2c, grpc, tcp-rr, tcp-crr; not stream)
//	    from: 1000                   # default 1000; the lowest rate, whose p99 is the reference, 1 to 200000
//	    to: 200000                   # default 200000; the highest rate tried, above from, at most 200000
//	    factor: 2                    # default 2; each step multiplies the rate by it, 1.1 to 16
//	    bisect: 3                    # default 3; steps of bisection between the last passing and the first failing rate, 0 to 10
//	    maxP99: 2x                   # default 2x; a step fails when its p99 is above this ratio of the lowest rate's p99, 1x to 100x
//	    maxErrors: 0.1%              # default 0.1%; a step fails when more of its requests failed, 0% to 100%
//	    minAchieved: 99%             # default 99%; a step fails when it achieved less of its rate (over measured time), 50% to 100%
//	enrol:                           # default none (these values are an example); beside each steady case an enrolment case: the load starts with the cluster unmeshed and the datapath is installed into it while the load runs (l7 proxies and http1, h2c or grpc, to count the requests through it; none is the control)
//	  after: 5s                      # when, from the start of the load, the datapath is installed: above 0, below the enrolment's duration
//	  duration: 10s                  # default load.duration; the enrolment case's load, one repetition
//	  services: [1]                  # default every topology.services count; the service counts that get enrolment cases (at each rate, or a search's lowest)
//	run:                             # how the runner runs the cases; changes no case
//	  order: interleaved             # default interleaved; interleaved (a point's datapaths set up together, each in its own cluster, their repetitions round-robin: none, sidecar, ..., none, ...) or sequential (each case's repetitions back to back)
//	  clusters: fresh                # default fresh; fresh (a cluster per case) or reuse (the next case of the same topology gets the cluster once the datapath is uninstalled and nothing of it is left, on netns; kind keeps its node containers for the next case of as many nodes)
//	gate:                            # thresholds for `meshbench gate`, metric: limit
//	  p99_overhead: 10%              # p99 latency over none in the same run: at most 10% worse
//	  hops: "0"                      # packet-path hops per request: not one more
//
// # Topology
//
// The cluster is shaped like a kind cluster: nodes numbered from 0, pods on
// nodes, a virtual IP per service. The client pods run on node 0 and send
// their load spread over every service's virtual IP, so that a proxy's
// per-service state grows with services as it would in a mesh. Server pods
// are placed by PlacePods:
//
//   - same-node: every server pod on node 0, beside the client;
//   - cross-node: server pods round-robin over nodes 1..nodes-1 (needs 2 nodes);
//   - spread: server pods round-robin over all nodes, starting at node 0.
//
// Addresses: node i takes the i-th /24 of podCIDR, so podCIDR must hold
// nodes /24s, and a node holds at most MaxPodsPerNode (250) pods, client pods
// included. serviceCIDR must hold one virtual IP per service, not counting
// its network and broadcast addresses, and must not overlap podCIDR. Neither
// range may overlap 0.0.0.0/8, loopback (127.0.0.0/8), link-local
// (169.254.0.0/16) or multicast and reserved space (224.0.0.0/3).
//
// # Datapaths and options
//
//   - none: no mesh, the floor every other datapath is compared with. It has
//     no proxy, so mode l7 and mtls are refused.
//   - sidecar: a proxy in every pod, traffic redirected by netfilter.
//   - nodeproxy: one proxy per node, pod traffic steered to it.
//   - ebpf: sockets redirected by eBPF to the node proxy; with proxy: off,
//     socket-level service load balancing only, without any proxy, which
//     rules out mode l7 and mtls.
//
// encryption: wireguard puts a WireGuard tunnel between every two nodes, below
// any proxy, as Cilium's and Calico's node-to-node encryption do: the nodes
// route each other's pod ranges and addresses through it. It applies to
// none, nodeproxy and ebpf with its proxy; a sidecar mesh is refused, and so
// is ebpf with proxy: off, whose tc programs deliver from the node's uplink.
//
// proxy: on and proxy: off read as text whether quoted or not.
//
// # Protocols
//
// Every protocol but stream is paced open loop at the case's rate, and
// every request's latency counts from its intended send time:
//
//   - http1: HTTP/1.1 requests on keep-alive connections, at most one in
//     flight per connection; requestBytes > 0 makes them POSTs.
//   - h2c: HTTP/2 over cleartext with prior knowledge, exactly connections
//     connections per client pod and service, requests multiplexed on them
//     as streams.
//   - grpc: unary calls of an echo service (request and response bodies of
//     requestBytes and responseBytes in a google.protobuf.BytesValue), over
//     connections gRPC connections per client pod and service; each size at
//     most MaxGRPCBytes.
//   - tcp-rr: requestBytes then responseBytes on persistent TCP connections,
//     one exchange in flight per connection (netperf TCP_RR); a size of 0
//     is sent as 1 byte, since an empty message cannot be told from none.
//   - tcp-crr: like tcp-rr, on a new connection per request that the server
//     closes after its response (netperf TCP_CRR); connections bounds the
//     exchanges in flight.
//   - stream: one-way bulk transfer, client to server, on connections
//     connections per client pod and service at once for the duration
//     (iperf3's TCP test), each ending with the server's count of the bytes
//     it read; reported as Gbit/s per connection and in total and datapath
//     CPU per GiB, with no percentiles. It paces nothing, so rates,
//     requestBytes and responseBytes do not apply: a stream case is one
//     point per connections value, its ID without rate and sizes, as in
//     "none/cross-node/svc=1/conns=8/proto=stream".
//
// load.client picks what sends http1 and h2c. lean, the default, is the
// load agent's own workers: each waits for its request's intended time and
// sends it itself, over the agent's own HTTP/1.1 keep-alive client (a
// request serialised once, the response parsed in place) or net/http's
// HTTP/2 client; grpc, tcp-rr and tcp-crr always go this way. vegeta is
// vegeta's attacker over net/http, where a pacer goroutine hands each
// request to a worker: it stays to cross-check lean on the same path. lean
// is the default because it measured faster and on time: in interleaved
// self-checks on a loaded 2-vCPU VM it achieved 100% of 20,000 req/s of
// http1 where vegeta achieved 49%, at a third of vegeta's CPU per request,
// and it sends without the hand-off's lateness (README, Latency). Each http1 and
// h2c case records its client (load_client).
//
// load.connectionRequests closes each connection after that many requests,
// and the next request opens a new one (http1 with the lean client, and
// tcp-rr). Connections that come and go are what a datapath installed
// under load (enrol) takes in hand: connect-time hooks and node proxies
// see only connections opened after the install, so with connections that
// last the whole load an enrolment's share through the datapath stays
// where the install found it. Each case records it (connection_requests).
//
// The l7 proxy parses HTTP/1.1 and HTTP/2 (h2c and gRPC: each stream is a
// request of its own, balanced and counted): with mode l7, tcp-rr and
// tcp-crr run through the proxy at l4, and the case records the fallback.
//
// # Rate search
//
// With load.search, the rates do not apply: every case searches for the
// highest rate its datapath sustains, within its own cluster and install.
// It steps up from from, multiplying the rate by factor, until a step fails
// or to is reached, then bisects bisect times between the last passing and
// the first failing rate. Each step runs for load.duration, and fails when
// it achieved less than minAchieved of its rate (successful responses over
// the measured time, as a case's achieved rate), when more than maxErrors of
// its requests failed, or when its p99 is above maxP99 times the p99 of the
// lowest rate, from. The case then measures its repetitions at the highest
// passing rate, which gives its latencies and its datapath CPU per 1,000
// requests there. A case whose lowest rate already fails records why and
// fails; the run goes on. A stream has no rate, so stream with load.search
// is refused.
//
// The load agent has a ceiling of its own. The none datapath's search
// measures it, judging its steps on achieved rate and errors alone (what
// the agents, the kernel and the echo servers carry without a mesh,
// whatever the latency), and reads none's own highest rate from the same
// steps; once none has run at a point, the other datapaths' searches at
// that point stop there, and a datapath whose search reaches
// it is reported as limited by the load agent, never credited with that
// rate. Bounds: factor 1.1 to 16 (at least ten percent a step, at most 16×,
// so a search from 1 to 200,000 takes 5 to 128 steps), bisect ≤ 10 (a
// thousandth of the last interval), maxP99 1x to 100x, minAchieved ≥ 50%
// (below that the rate is far past what is sustained).
//
// # Matrix
//
// Expand makes one Case per combination of protocols × placements ×
// services × rates × connections × requestBytes × responseBytes ×
// datapaths, nested in that order with datapaths innermost, so the
// datapaths of one point run back to back under the same machine
// conditions. A case's ID names its point, for example
// "none/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024", and is stable
// across runs; a protocol other than http1 ends it, as in ".../proto=h2c".
//
// # Bounds
//
// Every number has an upper bound that one machine running a kind cluster
// can honour; a value outside is refused with its field, value and range:
//
//   - nodes ≤ 64 (MaxNodes): each node is a container with its own kubelet;
//   - services ≤ 1000 per matrix value, podsPerService ≤ 250 (a node's
//     addresses), so at most 64 × 250 = 16,000 pods in all;
//   - rates 1 to 200,000 requests per second: below 1 a 10s case sends too
//     few requests for percentiles, above it the load generator saturates;
//   - duration ≤ 1h, warmup ≤ 10m, serviceTime ≤ 10s, so a case ends in hours;
//   - connections ≤ 4096 per client pod, within default file-descriptor limits;
//   - requestBytes and responseBytes ≤ 16 MiB, bodies held in memory;
//   - repetitions ≤ 100, probeRequests ≤ 100,000 (each is traced);
//   - the matrix ≤ 1000 cases (MaxCases), counted before expanding;
//   - unmeshed sources: mislabelled pods share the client's node with the
//     client pods, so both together ≤ 250 (its addresses); host processes
//     ≤ 64 (MaxHostProcesses), load agents sharing one node's namespace
//     and ports.
//
// The gate section is parsed as `meshbench gate --max` parses its limits.
//
// # Built-in scenarios
//
// The files in catalog/ are compiled in: capacity (the rate search for
// every datapath), claims (the claims for node-level datapaths against
// sidecar, judged in one run, each datapath also enrolled under load at 1
// service), protocols (every protocol through every datapath on
// quick's topology), quick (the default of make bench),
// seed-mesh (20 services × 5 pods over 3 nodes) and service-sweep (10 to 200
// services). Catalog lists them; Resolve takes their names, and a built-in
// name wins over a file of that name in the working directory (write
// ./quick for the file).
package scenarios
