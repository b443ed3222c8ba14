package scenarios

import "time"

// APIVersion and Kind head every scenario file.
const (
	APIVersion = "meshbench/v1alpha1"
	Kind       = "Scenario"
)

// Placement of the server pods relative to the client pod.
const (
	SameNode  = "same-node"  // every server pod on the client's node
	CrossNode = "cross-node" // server pods only on other nodes
	Spread    = "spread"     // server pods round-robin over all nodes
)

// Spec is a scenario file after decoding. Matrix dimensions are lists; see
// Expand.
type Spec struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   Metadata `yaml:"metadata"`
	Topology   Topology `yaml:"topology"`
	// Datapaths to compare, in report order.
	Datapaths []string `yaml:"datapaths"`
	Load      Traffic  `yaml:"load"`
	// DatapathOptions holds options per datapath name.
	DatapathOptions map[string]DatapathOptions `yaml:"datapathOptions"`
	// Gate holds regression thresholds for `meshbench gate` (metric -> limit,
	// e.g. "p99_overhead": "10%", "hops": "0").
	Gate map[string]string `yaml:"gate"`
	// Enrol adds enrolment cases: the datapath is installed into the
	// running, unmeshed cluster under load (see Enrol); none by default.
	Enrol *Enrol `yaml:"enrol,omitempty"`
	// Run says how the runner orders the cases' repetitions and hosts
	// them; left out, both are the defaults (and the hash is as before
	// the section existed).
	Run RunOptions `yaml:"run,omitempty"`

	// src is where each field was written, for defaults and error lines;
	// nil for specs built in code.
	src *source
}

// RunOptions say how the runner runs the cases; they change no case.
type RunOptions struct {
	// Order is the order of the repetitions of a point's datapaths:
	// OrderInterleaved (the default) or OrderSequential.
	Order string `yaml:"order,omitempty"`
	// Clusters is ClustersFresh (a cluster per case) or ClustersReuse.
	Clusters string `yaml:"clusters,omitempty"`
}

// The values of run.order and run.clusters.
const (
	// OrderSequential runs each case's repetitions back to back, one case
	// after another.
	OrderSequential = "sequential"
	// OrderInterleaved sets up every datapath of a point, then runs the
	// point's repetitions round-robin over them (none, sidecar, nodeproxy,
	// ebpf, none, ...), so that slow drift of the machine hits every
	// datapath alike.
	OrderInterleaved = "interleaved"
	// ClustersFresh creates and deletes a cluster for every case.
	ClustersFresh = "fresh"
	// ClustersReuse hands a case's cluster, once its datapath is
	// uninstalled and the provider finds nothing of it left, to the next
	// case of the same topology, where the provider can.
	ClustersReuse = "reuse"
)

// Orders and ClustersModes list the values of run.order and run.clusters.
var (
	Orders        = []string{OrderSequential, OrderInterleaved}
	ClustersModes = []string{ClustersFresh, ClustersReuse}
)

// Enrol is the enrolment phase: beside each steady case, a case whose
// load starts with the cluster unmeshed (no datapath, pods without
// sidecars) and whose datapath is installed After into the running
// cluster while the open-loop load goes on, measured to its end.
type Enrol struct {
	// After is when, from the start of the load, the datapath is
	// installed; it must lie inside Duration.
	After Duration `yaml:"after"`
	// Duration is the enrolment case's load; load.duration when not
	// written.
	Duration Duration `yaml:"duration,omitempty"`
	// Services are the topology.services counts that get enrolment
	// cases; all of them when not written.
	Services []int `yaml:"services,omitempty"`
}

// How a datapath joins a running cluster (Datapath.Enrol).
const (
	// EnrolRestart datapaths need every pod restarted with their
	// containers (a sidecar): a rolling replacement.
	EnrolRestart = "restart"
	// EnrolAttach datapaths attach to the running pods (node proxies,
	// eBPF programs): no pod restarts.
	EnrolAttach = "attach"
	// EnrolNothing datapaths install nothing (none): their enrolment
	// case is the control, load through an install that changes nothing.
	EnrolNothing = "nothing"
)

// Metadata names a scenario.
type Metadata struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// Topology is the cluster shape.
type Topology struct {
	Nodes int `yaml:"nodes"`
	// Services is a list of server-service counts (a matrix dimension).
	Services       []int `yaml:"services"`
	PodsPerService int   `yaml:"podsPerService"`
	// ClientPods is the number of load-generating pods (on the first node).
	ClientPods int `yaml:"clientPods"`
	// Placements is a matrix dimension of same-node, cross-node, spread.
	Placements  []string `yaml:"placements"`
	PodCIDR     string   `yaml:"podCIDR"`
	ServiceCIDR string   `yaml:"serviceCIDR"`
	// Unmeshed adds traffic sources the mesh may not see next to the
	// meshed client pods (see Source); none by default.
	Unmeshed *Unmeshed `yaml:"unmeshed,omitempty"`
}

// Unmeshed are the traffic sources outside the mesh's injection, and the
// namespace-wide default of the injection label.
type Unmeshed struct {
	// NamespaceInject is the namespace's injection label (true when not
	// written), the default of every pod without one of its own: with
	// true the mislabelled pods carry the label "false", with false the
	// meshed pods carry "true" and the mislabelled ones none.
	NamespaceInject *bool `yaml:"namespaceInject,omitempty"`
	// Sources are the unmeshed sources, each sending what one meshed
	// client pod sends, to the same services.
	Sources []Source `yaml:"sources"`
}

// Source is one kind of unmeshed traffic source.
type Source struct {
	// Kind is SourceMislabelled or SourceHost.
	Kind string `yaml:"kind"`
	// Count is how many pods or processes of the kind run, on node 0.
	Count int `yaml:"count"`
}

// The kinds of unmeshed traffic sources (results name them alike).
const (
	// SourceMislabelled is a client pod whose injection label keeps the
	// mesh's injector out.
	SourceMislabelled = "mislabelled"
	// SourceHost is a load agent run in a node's network namespace,
	// outside any pod, as a process started on the node would be.
	SourceHost = "host"
)

// InjectByDefault reports the namespace-wide injection default:
// NamespaceInject, true when not written.
func (u *Unmeshed) InjectByDefault() bool { return u.NamespaceInject == nil || *u.NamespaceInject }

// SourceKinds lists the unmeshed source kinds.
var SourceKinds = []string{SourceMislabelled, SourceHost}

// Traffic is the load section: what the client pods send. (Named Traffic,
// not Load, because Load is the function that reads a scenario file.)
type Traffic struct {
	// Protocols are the workloads (a matrix dimension, written "protocol"):
	// http1, h2c, grpc, tcp-rr, tcp-crr, stream.
	Protocols []string `yaml:"protocol,omitempty"`
	// Client is the load agent's client for protocols http1 and h2c
	// (Clients); empty is ClientLean.
	Client      string    `yaml:"client,omitempty"`
	Rates       []float64 `yaml:"rates"` // requests per second, open loop
	Duration    Duration  `yaml:"duration"`
	Warmup      Duration  `yaml:"warmup"`
	Connections []int     `yaml:"connections"`
	// ConnectionRequests, when > 0, closes each connection after that
	// many requests (http1 with the lean client, tcp-rr).
	ConnectionRequests int   `yaml:"connectionRequests,omitempty"`
	RequestBytes       []int `yaml:"requestBytes"`
	ResponseBytes      []int `yaml:"responseBytes"`
	// ServiceTime is how long the echo server takes per request.
	ServiceTime Duration `yaml:"serviceTime"`
	Repetitions int      `yaml:"repetitions"`
	// ProbeRequests is how many requests the packet-path probe sends.
	ProbeRequests int `yaml:"probeRequests"`
	// Search, when set, replaces the rates: each case searches for the
	// highest rate its datapath sustains (see Search).
	Search *Search `yaml:"search,omitempty"`
}

// DatapathOptions tune one datapath, or define a variant of one.
type DatapathOptions struct {
	// Datapath makes the entry a variant: a name of its own, to list in
	// datapaths beside the datapath itself, for the datapath it names
	// with these options (nodeproxy and, say, nodeproxy-waypoint).
	Datapath string `yaml:"datapath,omitempty"`
	// Mode is the proxy mode: "l4" or "l7".
	Mode string `yaml:"mode"`
	// MTLS encrypts proxy-to-proxy traffic.
	MTLS bool `yaml:"mtls"`
	// Proxy is "on" or "off" (ebpf only: socket load balancing without proxy).
	Proxy string `yaml:"proxy"`
	// Waypoint gives every server service an L7 waypoint proxy of its
	// own, as Istio ambient does (nodeproxy only, with mtls): the node
	// proxies stay l4 and send the service's traffic through it.
	Waypoint bool `yaml:"waypoint,omitempty"`
	// WaypointNode is where each waypoint's pod runs: WaypointClientNode
	// or WaypointServerNode (the default with a waypoint).
	WaypointNode string `yaml:"waypointNode,omitempty"`
	// Encryption is "" or "wireguard": node-to-node encryption of pod
	// traffic below any proxy (datapaths with Datapath.Encryption only).
	Encryption string `yaml:"encryption,omitempty"`
	// Attach is where the datapath's programs attach: AttachPod (each
	// announced pod's cgroup and veth, the default) or AttachNode (the
	// node's cgroup and every pod-facing device). Empty means AttachPod.
	Attach string `yaml:"attach,omitempty"`
}

// Where a waypoint runs (DatapathOptions.WaypointNode).
const (
	// WaypointClientNode is the node of the client pods (ClientNode).
	WaypointClientNode = "client-node"
	// WaypointServerNode is the node of the service's first server pod.
	WaypointServerNode = "server-node"
)

// EncryptionWireGuard is the value of DatapathOptions.Encryption that puts a
// WireGuard tunnel between every two nodes.
const EncryptionWireGuard = "wireguard"

// Where a datapath's programs attach (DatapathOptions.Attach).
const (
	AttachPod  = "pod"
	AttachNode = "node"
)

// The protocols a case can drive, the values of load.protocol.
const (
	// HTTP1 is HTTP/1.1 with keep-alive connections.
	HTTP1 = "http1"
	// H2C is HTTP/2 over cleartext with prior knowledge, many streams
	// multiplexed on each connection.
	H2C = "h2c"
	// GRPC is unary calls of an echo service over gRPC.
	GRPC = "grpc"
	// TCPRR is a raw TCP request and response of fixed sizes on persistent
	// connections (netperf TCP_RR).
	TCPRR = "tcp-rr"
	// TCPCRR is a new TCP connection per request: connect, request,
	// response, close (netperf TCP_CRR).
	TCPCRR = "tcp-crr"
	// Stream is one-way bulk transfer, client to server, on each of the
	// connections for the duration (iperf3's TCP test): throughput and
	// datapath CPU per GiB, no requests, so no rate and no percentiles.
	Stream = "stream"
)

// Protocols lists every protocol in the order the documentation gives them.
var Protocols = []string{HTTP1, H2C, GRPC, TCPRR, TCPCRR, Stream}

// The load agent's clients of http1 and h2c, the values of load.client.
const (
	// ClientLean is the agent's own: each request sent by the goroutine
	// that waited for its intended time, over the agent's own HTTP/1.1
	// keep-alive client, or net/http's HTTP/2 one.
	ClientLean = "lean"
	// ClientVegeta is vegeta's attacker over net/http.
	ClientVegeta = "vegeta"
)

// Clients lists the clients of http1 and h2c.
var Clients = []string{ClientLean, ClientVegeta}

// HTTPAware reports whether the l7 proxy understands protocol: it parses
// HTTP/1.1 and HTTP/2 (h2c, and gRPC over it), so tcp-rr and tcp-crr run
// through the proxy at l4.
func HTTPAware(protocol string) bool {
	return protocol == HTTP1 || protocol == H2C || protocol == GRPC
}

// Duration is a time.Duration written as "10s" in YAML.
type Duration time.Duration

// Case is one point of the matrix: everything needed to run it.
type Case struct {
	// ID is stable and human readable, e.g.
	// "none/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024".
	ID string
	// Datapath is the datapath to install; Variant is the name the
	// scenario listed it as when that is a variant of it, else empty.
	Datapath string
	Variant  string
	Options  DatapathOptions
	// L7Fallback is set when the scenario asked for mode l7 but Protocol
	// is one the l7 proxy does not parse (see HTTPAware): Options.Mode is
	// then l4, and the result says so.
	L7Fallback bool
	Placement  string
	Protocol   string
	// Client is the http1 and h2c load client, the scenario's load.client.
	Client string
	// ConnectionRequests is load.connectionRequests: each connection
	// closes after that many requests; 0 never.
	ConnectionRequests int

	Nodes          int
	Services       int
	PodsPerService int
	ClientPods     int
	PodCIDR        string
	ServiceCIDR    string
	// Unmeshed is the topology's, nil without unmeshed sources.
	Unmeshed *Unmeshed

	// Rate is 0 in a stream case, and in a search case until the search
	// set it.
	Rate float64
	// Search, when set, has the case search for its highest sustainable
	// rate, then measure at it.
	Search        *Search
	Duration      time.Duration
	Warmup        time.Duration
	Connections   int
	RequestBytes  int
	ResponseBytes int
	ServiceTime   time.Duration
	Repetitions   int
	ProbeRequests int
	// EnrolAfter is, in an enrolment case, when from the start of the
	// load the datapath is installed; 0 in a steady case.
	EnrolAfter time.Duration
}
