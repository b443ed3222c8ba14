package results

import (
	"fmt"
	"time"
)

// SchemaVersion is the version of result.json this build writes. Readers
// accept the versions from MinSchemaVersion to this one and refuse others
// with a clear message. Version 2 added search cases and stream cases,
// whose Stream block replaces latency_us (omitted) and the request
// figures; a version 1 file is a version 2 file without them. Version 3 added coverage (and attach):
// an older reader would ignore it and gate a lost coverage as no change,
// so it refuses the file instead; a version 2 file is a version 3 file
// without coverage. Version 4 added enrolment cases and their enrolment
// block, whose latency is that of a load the install ran through, not a
// steady one's: an older reader would compare them as steady cases; a
// version 3 file is a version 4 file without them.
const SchemaVersion = 4

// MinSchemaVersion is the oldest version of result.json this build reads.
const MinSchemaVersion = 1

// Run is one `meshbench run`: result.json.
type Run struct {
	SchemaVersion int         `json:"schema_version"`
	ID            string      `json:"id"`
	Scenario      string      `json:"scenario"`
	ScenarioHash  string      `json:"scenario_hash"` // sha256 of the canonical spec
	Provider      string      `json:"provider"`
	StartedAt     time.Time   `json:"started_at"`
	FinishedAt    time.Time   `json:"finished_at"`
	Environment   Environment `json:"environment"`
	Cases         []Case      `json:"cases"`
	// Gate carries the scenario's gate thresholds, if any.
	Gate map[string]string `json:"gate,omitempty"`
	// Order is how the repetitions of a point's datapaths ran
	// (scenarios.Orders); files without it ran sequential.
	Order string `json:"order,omitempty"`

	// Partial is set on a record written before the run finished (after
	// each case, or when the run was interrupted); PlannedCases is then the
	// number of cases the run meant to run. Files without these fields,
	// written before they existed, are complete runs.
	Partial      bool `json:"partial,omitempty"`
	Interrupted  bool `json:"interrupted,omitempty"`
	PlannedCases int  `json:"planned_cases,omitempty"`
}

// PartialNote says how much of a partial run is in the record, e.g.
// "partial: 1 of 3 cases (interrupted)"; it is "" for a complete run.
func (r *Run) PartialNote() string {
	if !r.Partial {
		return ""
	}
	note := fmt.Sprintf("partial: %d of %d cases", len(r.Cases), r.PlannedCases)
	if r.Interrupted {
		note += " (interrupted)"
	}
	return note
}

// Environment is where the run happened.
type Environment struct {
	Kernel           string `json:"kernel"`
	CPUModel         string `json:"cpu_model"`
	CPUs             int    `json:"cpus"`
	MemoryBytes      uint64 `json:"memory_bytes"`
	GoVersion        string `json:"go_version"`
	MeshbenchVersion string `json:"meshbench_version"`
	GitCommit        string `json:"git_commit"`
	Hostname         string `json:"hostname"`
	// AgentBinary is the binary the agents ran: "meshbench-agent", the
	// slim one, or "meshbench", whose whole CLI then counts in every
	// proxy's and node agent's memory.
	AgentBinary string `json:"agent_binary,omitempty"`
}

// Case is one matrix point, summarised over its repetitions (medians).
type Case struct {
	ID string `json:"id"`
	// Datapath is the datapath the scenario listed, or the variant of one
	// (a name of the scenario's own, such as nodeproxy-waypoint), which
	// VariantOf then names.
	Datapath  string `json:"datapath"`
	VariantOf string `json:"variant_of,omitempty"`
	// Protocol is the workload (scenarios.Protocols); files written before
	// it existed lack it and ran http1 (see ProtocolName).
	Protocol string `json:"protocol,omitempty"`
	// LoadClient is the load agent's client of an http1 or h2c case
	// (scenarios.Clients); empty in files written before it existed,
	// which ran vegeta's.
	LoadClient string `json:"load_client,omitempty"`
	// ConnectionRequests is how many requests each connection carried
	// before the load agent closed it and opened another (the scenario's
	// load.connectionRequests); absent where connections lasted the load.
	ConnectionRequests int    `json:"connection_requests,omitempty"`
	Mode               string `json:"mode,omitempty"`
	// L7Fallback is set when the scenario asked for mode l7, which the
	// proxy does not speak for Protocol: the proxy ran at Mode l4.
	L7Fallback bool   `json:"l7_fallback,omitempty"`
	MTLS       bool   `json:"mtls,omitempty"`
	Proxy      string `json:"proxy,omitempty"`
	// Waypoint is where the case's waypoints ran ("server-node",
	// "client-node"); empty without waypoints.
	Waypoint string `json:"waypoint,omitempty"`
	// ReusedCluster is set when the case ran in the cluster of an earlier
	// case of the run (scenarios.ClustersReuse), not a fresh one.
	ReusedCluster bool `json:"reused_cluster,omitempty"`
	// Attach is where the datapath's programs attached, "node" when not
	// each pod's (ebpf attach: node); empty for the default.
	Attach string `json:"attach,omitempty"`
	// EnrolAfterS is, in an enrolment case, when from the start of the
	// load its datapath was to be installed (scenario enrol.after); 0 in
	// a steady case. Its figures are in Enrolment.
	EnrolAfterS   float64 `json:"enrol_after_s,omitempty"`
	Placement     string  `json:"placement"`
	NodeCount     int     `json:"node_count"`
	Services      int     `json:"services"`
	Pods          int     `json:"pods"`
	Rate          float64 `json:"rate,omitzero"`
	DurationS     float64 `json:"duration_s"`
	Connections   int     `json:"connections"`
	RequestBytes  int     `json:"request_bytes"`
	ResponseBytes int     `json:"response_bytes"`

	// Encryption is the encryption between nodes below the proxies
	// ("wireguard"), and EncryptionImplementation which code ran it
	// ("kernel" or "userspace"): userspace costs far more CPU.
	Encryption               string `json:"encryption,omitempty"`
	EncryptionImplementation string `json:"encryption_implementation,omitempty"`

	// Status is "ok", "failed", "unsupported" (the machine lacks what the
	// case needs, which Error names) or "interrupted" (the run was cancelled
	// during the case); Error says why a case failed.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`

	// LatencyUS is absent from a stream case, which has no requests and
	// so no percentiles: its figures are in Stream.
	LatencyUS Latency `json:"latency_us,omitzero"`
	// ConnectUS is the connect time of each request's own connection
	// (tcp-crr), apart from LatencyUS, which includes it; nil for
	// protocols on persistent connections.
	ConnectUS   *Latency `json:"connect_us,omitempty"`
	AchievedRPS float64  `json:"achieved_rps,omitzero"`
	// Stream is a stream case's throughput (see Stream); nil for the
	// other protocols. A stream case has no rate, achieved rate or
	// requests either: those fields are absent (zero when read).
	Stream *Stream `json:"stream,omitempty"`
	// Search is a search case's rate search (load.search), kept also
	// when the case failed; the case's figures are measured at its
	// HighestRPS, and its rate is absent (the point is the search).
	Search *Search `json:"search,omitempty"`
	// AchievedFraction is AchievedRPS over Rate, the target; RateShortfall
	// is set when it is below 1 - RateTolerance: the case did not achieve
	// its rate, which every report shows and the gate fails. Files written
	// before these fields existed lack them (see JudgeRate).
	AchievedFraction *float64 `json:"achieved_fraction,omitempty"`
	RateShortfall    bool     `json:"rate_shortfall,omitempty"`
	// PacerLatenessUS is how late the load agents sent requests after
	// their intended times (median over the repetitions).
	PacerLatenessUS *Lateness `json:"pacer_lateness_us,omitempty"`
	ErrorRate       float64   `json:"error_rate"`
	Requests        uint64    `json:"requests,omitzero"`

	Repetitions []Repetition `json:"repetitions"`
	NodeCosts   []NodeCost   `json:"nodes,omitempty"`
	Path        *Path        `json:"path,omitempty"`
	// Coverage is what the datapath saw of each traffic source, in a case
	// with unmeshed sources (scenario topology.unmeshed); nil otherwise.
	Coverage *Coverage `json:"coverage,omitempty"`
	// Enrolment is set on an enrolment case (ID ending in /enrol): its
	// datapath was installed into the running cluster under load.
	Enrolment *Enrolment `json:"enrolment,omitempty"`

	// Stats and OverheadVsNone are computed from Repetitions by Finalize
	// (see stats.go); files written before Finalize existed lack them.
	Stats          *CaseStats `json:"stats,omitempty"`
	OverheadVsNone *Overhead  `json:"overhead_vs_none,omitempty"`
}

// ProtocolName is c's protocol, "http1" for a file written before cases
// named theirs.
func (c *Case) ProtocolName() string {
	if c.Protocol == "" {
		return "http1"
	}
	return c.Protocol
}

// Latency percentiles in microseconds, from intended send time.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Lateness is how long after its intended send time a request went out
// (the pacer's and the generator's delay), in microseconds.
type Lateness struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// Repetition is one run of a case.
type Repetition struct {
	Index int `json:"index"`
	// LatencyUS is absent from a stream repetition, as from its case.
	LatencyUS Latency `json:"latency_us,omitzero"`
	// Stream is a stream repetition's throughput; nil for the other
	// protocols.
	Stream *Stream `json:"stream,omitempty"`
	// ConnectUS is the connect time of each request's own connection
	// (tcp-crr); nil for protocols on persistent connections.
	ConnectUS *Latency `json:"connect_us,omitempty"`
	// AchievedRPS is successful responses over the measured wall time,
	// from the first intended send to the last actual send.
	AchievedRPS float64 `json:"achieved_rps,omitzero"`
	ErrorRate   float64 `json:"error_rate"`
	// Requests were sent (Errors of them failed); Unsent is how many the
	// schedule planned that were not sent by the attack's deadline.
	Requests uint64 `json:"requests,omitzero"`
	Errors   uint64 `json:"errors"`
	Unsent   uint64 `json:"unsent,omitempty"`
	// PacerLatenessUS is the lateness of the repetition's requests.
	PacerLatenessUS *Lateness `json:"pacer_lateness_us,omitempty"`
	// Samples is the raw sample file, relative to the run directory;
	// absent for a stream repetition.
	Samples string `json:"samples,omitempty"`
	// Histogram is the lossless HDR histogram of latencies (ns), encoded
	// with hdrhistogram-go's compressed V2 encoding; absent for a stream
	// repetition.
	Histogram string `json:"histogram,omitempty"`
	// ErrorKinds counts errors by message.
	ErrorKinds map[string]uint64 `json:"error_kinds,omitempty"`
}

// NodeCost is what the datapath costs one node during the load phase.
type NodeCost struct {
	Node                    string  `json:"node"`
	Proxies                 int     `json:"proxies"`
	DatapathMemoryBytesMean float64 `json:"datapath_memory_bytes_mean"`
	DatapathMemoryBytesPeak float64 `json:"datapath_memory_bytes_peak"`
	// DatapathUSSBytesMean is the datapath's unique set size: private
	// pages only, without the share of the binary's pages that PSS counts.
	DatapathUSSBytesMean float64 `json:"datapath_uss_bytes_mean,omitempty"`
	// DatapathIdleMemoryBytes is the datapath's memory (PSS, and BPF
	// maps and programs) on the node once installed and before any
	// request: what it costs doing nothing.
	DatapathIdleMemoryBytes       float64 `json:"datapath_idle_memory_bytes,omitempty"`
	DatapathCgroupMemoryBytesMean float64 `json:"datapath_cgroup_memory_bytes_mean"`
	DatapathCPUSeconds            float64 `json:"datapath_cpu_seconds"`
	DatapathCPUPer1kRequests      float64 `json:"datapath_cpu_seconds_per_1k_requests"`
	// DatapathCPUPerGiB is the datapath's CPU time per GiB of payload the
	// case moved through the cluster: a stream's bytes, or the request
	// and response bodies of the successful requests (results.PayloadBytes;
	// headers and framing not counted).
	DatapathCPUPerGiB  float64 `json:"datapath_cpu_seconds_per_gib,omitempty"`
	AppMemoryBytesMean float64 `json:"app_memory_bytes_mean"`
	AppCPUSeconds      float64 `json:"app_cpu_seconds"`
	BPFMemoryBytes     float64 `json:"bpf_memory_bytes,omitempty"`
}

// Path is the packet-path probe's result. Hops count the device
// traversals of packets that carry data (Transmits + Receives); TCP
// segments without payload (pure ACKs, and SYN, FIN or RST without data)
// count apart, in AcksPerRequest, since whether an ACK leaves on its own
// depends on scheduling.
type Path struct {
	Requests       int     `json:"requests"`
	HopsPerRequest float64 `json:"hops_per_request"`
	Transmits      float64 `json:"transmits"`
	Receives       float64 `json:"receives"`
	// AcksPerRequest are the device transmits and receives of TCP
	// segments without payload.
	AcksPerRequest  float64 `json:"acks_per_request"`
	SocketCrossings float64 `json:"socket_crossings"`
	RouteLookups    float64 `json:"route_lookups"`
	NetfilterHits   float64 `json:"netfilter_hits"`
	Redirects       float64 `json:"redirects"`
	// Trace is the traced request as text, a line per event:
	// "<namespace> <device> <event> <bytes>B <actor>" (without the actor
	// in records written before Steps existed).
	Trace []string `json:"trace,omitempty"`
	// Steps are the events of Trace, with who caused each.
	Steps []PathStep `json:"steps,omitempty"`
}

// The actors of PathStep that are not a datapath's process or another
// task.
const (
	// AppActor is a pod's workload: its load agent or server.
	AppActor = "app"
	// KernelActor is the kernel doing work for no process in particular,
	// in a softirq (receiving, forwarding) or a kernel thread.
	KernelActor = "kernel"
)

// PathStep is one event of the traced request, in the order the kernel saw
// them.
type PathStep struct {
	// Namespace is where it happened: "pod client-0", "node n1", "fabric".
	Namespace string `json:"namespace"`
	// Device is the device of a transmit or receive ("eth0"); empty for
	// socket events on unbound sockets.
	Device string `json:"device,omitempty"`
	// Event is "transmit", "receive", "socket_send", "socket_recv",
	// "route_lookup", "transmit_ack" or "receive_ack".
	Event string `json:"event"`
	Bytes uint32 `json:"bytes"`
	// Actor is who caused it: a pod's workload ("app"), a datapath
	// process by its container ("sidecar", "nodeproxy"), "kernel" for
	// what the kernel did in a softirq or kernel thread on behalf of no
	// process (receiving, forwarding), or "COMM[PID]" for another task.
	Actor string `json:"actor"`
}
