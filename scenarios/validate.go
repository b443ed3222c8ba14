package scenarios

import (
	"cmp"
	"maps"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// unusable are ranges that a pod or service address cannot come from.
var unusable = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/3"), // multicast, reserved, broadcast
}

// Validate checks a defaulted spec (see SetDefaults) against the datapaths
// known and returns every problem it finds, each a *FieldError that names the field, its line and
// what to do, joined with errors.Join and all wrapping ErrInvalid (past 20,
// the rest are counted, not shown); nil when the spec can run.
func Validate(s *Spec, known Datapaths) error {
	p := &problems{src: s.src}
	if s.APIVersion != APIVersion {
		p.add("apiVersion", "%q is not supported; set apiVersion: %s", s.APIVersion, APIVersion)
	}
	if s.Kind != Kind {
		p.add("kind", "%q is not supported; set kind: %s", s.Kind, Kind)
	}
	validateTopology(p, &s.Topology)
	validateUnmeshed(p, s.Topology.Unmeshed, s.Load.Protocols)
	validateDatapaths(p, s, known)
	validateLoad(p, &s.Load)
	validateProtocols(p, &s.Load)
	validateRun(p, &s.Run)
	validateSearch(p, &s.Load)
	validateEnrol(p, s, known)
	validateBounds(p, s)
	validateGate(p, s)
	validateMatrix(p, s)
	return p.err()
}

func validateTopology(p *problems, t *Topology) {
	if t.Nodes < 1 {
		p.add("topology.nodes", "must be at least 1, got %d; set how many nodes the cluster has", t.Nodes)
	}
	nonEmpty(p, "topology.services", len(t.Services), "[1]")
	for i, n := range t.Services {
		if n < 1 {
			p.add(index("topology.services", i), "must be at least 1, got %d; list how many server services to run", n)
		}
	}
	duplicates(p, "topology.services", t.Services)
	if t.PodsPerService < 1 {
		p.add("topology.podsPerService", "must be at least 1, got %d; set how many pods back each service", t.PodsPerService)
	}
	if t.ClientPods < 1 {
		p.add("topology.clientPods", "must be at least 1, got %d; set how many load-generating pods to run", t.ClientPods)
	}
	if t.ClientPods > MaxPodsPerNode {
		p.add("topology.clientPods", "%d client pods do not fit on the client's node, which holds at most %d pods; lower clientPods", t.ClientPods, MaxPodsPerNode)
	}
	validatePlacements(p, t)

	pods, podsOK := parseCIDR(p, "topology.podCIDR", t.PodCIDR, DefaultPodCIDR)
	vips, vipsOK := parseCIDR(p, "topology.serviceCIDR", t.ServiceCIDR, DefaultServiceCIDR)
	if podsOK && vipsOK && pods.Overlaps(vips) {
		p.add("topology.serviceCIDR", "%s overlaps podCIDR %s; choose ranges that do not overlap, such as %s and %s", vips, pods, DefaultServiceCIDR, DefaultPodCIDR)
	}
	if podsOK {
		checkPodAddresses(p, t, pods)
	}
	if vipsOK {
		checkServiceAddresses(p, t, vips)
	}
}

func validatePlacements(p *problems, t *Topology) {
	nonEmpty(p, "topology.placements", len(t.Placements), "[cross-node]")
	for i, pl := range t.Placements {
		field := index("topology.placements", i)
		switch pl {
		case SameNode, Spread:
		case CrossNode:
			if t.Nodes != 1 {
				break
			}
			if p.src != nil && !p.src.has("topology.placements") {
				p.add("topology.nodes", "1 node leaves no other node for the default placement cross-node; set nodes to 2 or more, or set topology.placements to [same-node]")
			} else {
				p.add(field, "cross-node needs at least 2 nodes, but topology.nodes is 1; set nodes to 2 or more, or use same-node")
			}
		default:
			p.add(field, "unknown placement %q; use same-node, cross-node or spread", pl)
		}
	}
	duplicates(p, "topology.placements", t.Placements)
}

// parseCIDR reports what is wrong with an address range and returns it when
// it is usable.
func parseCIDR(p *problems, field, v, example string) (netip.Prefix, bool) {
	r, err := netip.ParsePrefix(v)
	switch {
	case err != nil:
		p.add(field, "%q is not an address range; write an IPv4 CIDR such as %s", v, example)
	case !r.Addr().Is4():
		p.add(field, "%s is IPv6, which meshbench does not support yet; write an IPv4 CIDR such as %s", v, example)
	case r != r.Masked():
		p.add(field, "%s has bits set after the prefix; write %s", v, r.Masked())
	default:
		for _, u := range unusable {
			if r.Overlaps(u) {
				p.add(field, "%s overlaps %s, which cannot hold pod or service addresses; choose a private range such as %s", v, u, example)
				return netip.Prefix{}, false
			}
		}
		return r, true
	}
	return netip.Prefix{}, false
}

// checkPodAddresses applies the address rules of PlacePods and
// NodePodPrefixLen: one /24 of the pod range per node, and at most
// MaxPodsPerNode pods on any node.
func checkPodAddresses(p *problems, t *Topology, pods netip.Prefix) {
	if pods.Bits() > NodePodPrefixLen {
		p.add("topology.podCIDR", "%s is smaller than the /%d each node takes; use a /%d or larger, such as %s", pods, NodePodPrefixLen, NodePodPrefixLen, DefaultPodCIDR)
		return
	}
	maxNodes := 1 << (NodePodPrefixLen - pods.Bits())
	if t.Nodes > maxNodes {
		p.add("topology.podCIDR", "%s holds %d node /%ds, but topology.nodes is %d; use a larger range, such as %s, or fewer nodes", pods, maxNodes, NodePodPrefixLen, t.Nodes, DefaultPodCIDR)
		return
	}
	if t.Nodes < 1 || t.PodsPerService < 1 || t.ClientPods < 1 || t.ClientPods > MaxPodsPerNode {
		return // reported above; nothing to place
	}
	// The mislabelled pods are client pods too, on the client's node.
	clientPods := t.ClientPods + t.Unmeshed.Pods()
	if clientPods > MaxPodsPerNode {
		p.add("topology.unmeshed.sources", "%d client pods and %d mislabelled pods need more than the %d addresses of the client's node; lower the mislabelled count or clientPods", t.ClientPods, t.Unmeshed.Pods(), MaxPodsPerNode)
		return
	}
	for i, services := range t.Services {
		field := index("topology.services", i)
		if services < 1 {
			continue
		}
		// Bounds the placement below by what the cluster could hold at all.
		if services > t.Nodes*MaxPodsPerNode/t.PodsPerService {
			p.add(field, "%d services × %d pods need more than the %d pod addresses of %d nodes (%d each); add nodes, or lower services or podsPerService", services, t.PodsPerService, t.Nodes*MaxPodsPerNode, t.Nodes, MaxPodsPerNode)
			continue
		}
		for _, pl := range t.Placements {
			if !placeable(pl, t.Nodes) {
				continue
			}
			count := podsPerNode(t.Nodes, clientPods, PlacePods(t.Nodes, pl, services, t.PodsPerService))
			node := slices.Index(count, slices.Max(count))
			if count[node] > MaxPodsPerNode {
				p.add(field, "with placement %s, %d services × %d pods put %d pods (client pods included) on node %d, more than the %d addresses a node's /%d gives; add nodes, use spread, or lower services or podsPerService", pl, services, t.PodsPerService, count[node], node, MaxPodsPerNode, NodePodPrefixLen)
				break
			}
		}
	}
}

// MaxHostProcesses bounds the unmeshed host processes of a scenario.
const MaxHostProcesses = 64

func validateUnmeshed(p *problems, u *Unmeshed, protocols []string) {
	if u == nil {
		return
	}
	const field = "topology.unmeshed.sources"
	if slices.Contains(protocols, Stream) {
		p.add("topology.unmeshed", "coverage counts requests, which protocol stream does not send; remove stream from load.protocol or remove unmeshed")
	}
	if len(u.Sources) == 0 {
		p.add(field, "is empty; list the unmeshed sources, such as [{kind: mislabelled, count: 1}, {kind: host, count: 1}], or remove unmeshed")
	}
	seen := map[string]bool{}
	for i, src := range u.Sources {
		f := index(field, i)
		switch {
		case !slices.Contains(SourceKinds, src.Kind):
			p.add(f+".kind", "unknown source kind %q; use %s", src.Kind, strings.Join(SourceKinds, " or "))
			continue
		case seen[src.Kind]:
			p.add(f+".kind", "%s is listed twice; give its count once", src.Kind)
		}
		seen[src.Kind] = true
		switch {
		case src.Count < 1:
			p.add(f+".count", "must be at least 1, got %d; set how many %s sources to run", src.Count, src.Kind)
		case src.Kind == SourceMislabelled && src.Count > MaxPodsPerNode:
			p.add(f+".count", "%d mislabelled pods do not fit on the client's node, which holds at most %d pods; lower count", src.Count, MaxPodsPerNode)
		case src.Kind == SourceHost && src.Count > MaxHostProcesses:
			p.add(f+".count", "%d host processes are more than the %d allowed; lower count", src.Count, MaxHostProcesses)
		}
	}
}

// Pods is how many mislabelled pods u adds; none for a nil u.
func (u *Unmeshed) Pods() int { return u.count(SourceMislabelled) }

// Hosts is how many host processes u adds; none for a nil u.
func (u *Unmeshed) Hosts() int { return u.count(SourceHost) }

func (u *Unmeshed) count(kind string) int {
	if u == nil {
		return 0
	}
	n := 0
	for _, s := range u.Sources {
		if s.Kind == kind && s.Count > 0 {
			n += s.Count
		}
	}
	return n
}

// placeable reports whether PlacePods accepts placement on nodes nodes.
func placeable(placement string, nodes int) bool {
	switch placement {
	case SameNode, Spread:
		return true
	case CrossNode:
		return nodes >= 2
	}
	return false
}

// checkServiceAddresses needs one virtual IP per service, from the service
// range less its network and broadcast addresses.
func checkServiceAddresses(p *problems, t *Topology, vips netip.Prefix) {
	usable := max(int64(1)<<(32-vips.Bits())-2, 0)
	for i, services := range t.Services {
		if int64(services) > usable {
			p.add(index("topology.services", i), "%d services need %d virtual IPs, but serviceCIDR %s holds %d; use a larger range, such as %s", services, services, vips, usable, DefaultServiceCIDR)
		}
	}
}

func validateDatapaths(p *problems, s *Spec, known Datapaths) {
	nonEmpty(p, "datapaths", len(s.Datapaths), "["+known.defaultName()+"]")
	for i, dp := range s.Datapaths {
		if !known.known(dp) && s.DatapathOptions[dp].Datapath == "" {
			p.add(index("datapaths", i), "unknown datapath %q; valid datapaths are %s, or a variant defined under datapathOptions with datapath: NAME", dp, known.list())
		}
	}
	duplicates(p, "datapaths", s.Datapaths)
	for _, dp := range slices.Sorted(maps.Keys(s.DatapathOptions)) {
		validateOptions(p, s, known, dp)
	}
}

// variantName matches the names of variants, which name cases (IDs) and
// their sample files.
var variantName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// validateWaypoint checks a datapath's waypoint options: ambient's
// waypoint sits behind node proxies that stay l4, reaches them over mTLS
// only, and parses the HTTP protocols only (HTTPAware).
func validateWaypoint(p *problems, s *Spec, known Datapaths, dp Datapath, name string) {
	o := s.DatapathOptions[name]
	field := "datapathOptions." + name
	if !o.Waypoint {
		if o.WaypointNode != "" {
			p.add(field+".waypointNode", "applies only with a waypoint; set waypoint: true or remove waypointNode")
		}
		return
	}
	switch {
	case !dp.Waypoint:
		if with := known.waypoints(); with != "" {
			p.add(field+".waypoint", "a waypoint is only possible with %s, whose node proxies send traffic through it; remove waypoint", with)
		} else {
			p.add(field+".waypoint", "a waypoint is not possible with any datapath; remove waypoint")
		}
		return
	case !o.MTLS:
		p.add(field+".waypoint", "a waypoint needs mtls: true, which every proxy-to-proxy leg of its path uses, as in Istio ambient; set mtls: true")
	case o.Mode == ModeL7:
		p.add(field+".mode", "with a waypoint the node proxies stay l4 and the waypoint is the l7 proxy; remove mode")
	}
	switch o.WaypointNode {
	case WaypointClientNode, WaypointServerNode:
	default:
		p.add(field+".waypointNode", "%q is not a waypoint placement; use %s or %s", o.WaypointNode, WaypointClientNode, WaypointServerNode)
	}
	for i, proto := range s.Load.Protocols {
		if slices.Contains(Protocols, proto) && !HTTPAware(proto) {
			p.add(index("load.protocol", i), "the waypoint of %s is an l7 proxy, which does not parse %s; remove %s or the waypoint", name, proto, proto)
		}
	}
}

// validateOptions checks the options of a datapath, or of a variant
// against the datapath it names.
func validateOptions(p *problems, s *Spec, known Datapaths, name string) {
	o := s.DatapathOptions[name]
	field := "datapathOptions." + name
	var (
		dp Datapath
		ok bool
	)
	switch {
	case o.Datapath == "":
		if dp, ok = known.Lookup(name); !ok {
			p.add(field, "unknown datapath %q; options can be given for %s, or for a variant with datapath: NAME", name, known.list())
			return
		}
	case known.known(name):
		p.add(field+".datapath", "%s is a datapath itself, not a variant; remove datapath or give the entry a name of its own", name)
		return
	case !variantName.MatchString(name):
		p.add(field, "variant name %q: use lower-case letters, digits and '-', starting with a letter", name)
		return
	default:
		if dp, ok = known.Lookup(o.Datapath); !ok {
			p.add(field+".datapath", "unknown datapath %q; a variant is one of %s", o.Datapath, known.list())
			return
		}
	}
	validateWaypoint(p, s, known, dp, name)
	switch {
	case o.Mode != ModeL4 && o.Mode != ModeL7:
		p.add(field+".mode", "%q is not a proxy mode; use l4 or l7", o.Mode)
	case !dp.Proxy && o.Mode == ModeL7:
		p.add(field+".mode", "datapath %s has no proxy, so l7 cannot apply; remove mode", dp.Name)
	case o.Mode == ModeL7 && o.Proxy == ProxyOff:
		p.add(field+".mode", "l7 needs a proxy, but proxy is off; set proxy to on or remove mode")
	}
	switch {
	case o.Proxy != ProxyOn && o.Proxy != ProxyOff:
		p.add(field+".proxy", "%q is not a proxy setting; use on or off", o.Proxy)
	case o.Proxy == ProxyOff && !dp.ProxyOptional:
		if optional := known.proxyOptional(); optional != "" {
			p.add(field+".proxy", "off is only possible with %s, which can run without a proxy; remove proxy or set it to on", optional)
		} else {
			p.add(field+".proxy", "off is not possible with any datapath; remove proxy or set it to on")
		}
	}
	switch {
	case o.Attach != "" && o.Attach != AttachPod && o.Attach != AttachNode:
		p.add(field+".attach", "%q is not an attachment; use pod or node", o.Attach)
	case o.Attach == AttachNode && !dp.NodeAttach:
		p.add(field+".attach", "datapath %s cannot attach at the node; remove attach", name)
	}
	switch {
	case o.MTLS && !dp.Proxy:
		p.add(field+".mtls", "datapath %s has no proxy, so mtls cannot apply; remove mtls", dp.Name)
	case o.MTLS && o.Proxy == ProxyOff:
		p.add(field+".mtls", "mtls needs a proxy, but proxy is off; set proxy to on or remove mtls")
	}
	validateEncryption(p, known, dp, field+".encryption", o)
}

func validateEncryption(p *problems, known Datapaths, dp Datapath, field string, o DatapathOptions) {
	switch {
	case o.Encryption == "":
	case o.Encryption != EncryptionWireGuard:
		p.add(field, "%q is not an encryption; use wireguard or remove encryption", o.Encryption)
	case !dp.Encryption:
		if names := known.encryptable(); names != "" {
			p.add(field, "datapath %s cannot run over wireguard (only %s can); remove encryption", dp.Name, names)
		} else {
			p.add(field, "no datapath can run over wireguard; remove encryption")
		}
	case o.Proxy == ProxyOff:
		p.add(field, "wireguard cannot apply with proxy off, whose tc programs deliver packets from the node's uplink, which the tunnel bypasses; set proxy to on or remove encryption")
	}
}

func validateLoad(p *problems, l *Traffic) {
	nonEmpty(p, "load.rates", len(l.Rates), "[1000]")
	for i, r := range l.Rates {
		switch {
		case !(r > 0):
			p.add(index("load.rates", i), "rate must be > 0; use a positive requests-per-second value")
		case math.IsInf(r, 1):
			p.add(index("load.rates", i), "rate must be finite; use a positive requests-per-second value")
		}
	}
	duplicates(p, "load.rates", l.Rates)
	if l.Duration <= 0 {
		p.add("load.duration", "must be greater than 0, got %s; set how long each measurement runs, such as 10s", l.Duration)
	}
	if l.Warmup < 0 {
		p.add("load.warmup", "must not be negative, got %s; use 0s for no warm-up", l.Warmup)
	}
	if l.ServiceTime < 0 {
		p.add("load.serviceTime", "must not be negative, got %s; use 0s for an immediate reply", l.ServiceTime)
	}
	nonEmpty(p, "load.connections", len(l.Connections), "[8]")
	for i, c := range l.Connections {
		if c < 1 {
			p.add(index("load.connections", i), "must be at least 1, got %d; set how many keep-alive connections each client pod opens", c)
		}
	}
	duplicates(p, "load.connections", l.Connections)
	for _, f := range []struct {
		field string
		sizes []int
	}{{"load.requestBytes", l.RequestBytes}, {"load.responseBytes", l.ResponseBytes}} {
		nonEmpty(p, f.field, len(f.sizes), "[0]")
		for i, n := range f.sizes {
			if n < 0 {
				p.add(index(f.field, i), "must not be negative, got %d; use 0 for an empty body", n)
			}
		}
		duplicates(p, f.field, f.sizes)
	}
	if l.Repetitions < 1 {
		p.add("load.repetitions", "must be at least 1, got %d; set how many times each case runs", l.Repetitions)
	}
	if l.ProbeRequests < 1 {
		p.add("load.probeRequests", "must be at least 1, got %d; set how many requests the packet-path probe traces", l.ProbeRequests)
	}
}

// validateProtocols checks load.protocol against the protocols meshbench
// drives, and the message sizes each can carry.
func validateProtocols(p *problems, l *Traffic) {
	nonEmpty(p, "load.protocol", len(l.Protocols), "[http1]")
	for i, proto := range l.Protocols {
		if !slices.Contains(Protocols, proto) {
			p.add(index("load.protocol", i), "unknown protocol %q; use %s", proto, strings.Join(Protocols, ", "))
		}
	}
	duplicates(p, "load.protocol", l.Protocols)
	switch {
	case l.Client != "" && !slices.Contains(Clients, l.Client):
		p.add("load.client", "unknown client %q; use %s", l.Client, strings.Join(Clients, ", "))
	case l.Client != "" && !slices.Contains(l.Protocols, HTTP1) && !slices.Contains(l.Protocols, H2C):
		p.add("load.client", "applies to protocols http1 and h2c only; add one to load.protocol or remove load.client")
	}
	switch n := l.ConnectionRequests; {
	case n < 0:
		p.add("load.connectionRequests", "%d is negative; use 0 to keep connections for the whole load, or a count of requests", n)
	case n > 0 && l.Client == ClientVegeta:
		p.add("load.connectionRequests", "applies to the lean client only; remove load.client: vegeta or load.connectionRequests")
	case n > 0 && slices.ContainsFunc(l.Protocols, func(p string) bool { return p != HTTP1 && p != TCPRR }):
		p.add("load.connectionRequests", "applies to protocols http1 and tcp-rr only; remove the others from load.protocol or remove load.connectionRequests")
	}
	if !slices.Contains(l.Protocols, GRPC) {
		return
	}
	for _, f := range []struct {
		field string
		sizes []int
	}{{"load.requestBytes", l.RequestBytes}, {"load.responseBytes", l.ResponseBytes}} {
		for i, n := range f.sizes {
			if n > MaxGRPCBytes {
				p.add(index(f.field, i), "%d bytes do not fit in a gRPC message, which holds at most %d (4 MiB less the message's framing); lower it or remove grpc from load.protocol", n, MaxGRPCBytes)
			}
		}
	}
}

// validateRun checks the run section's switches.
func validateRun(p *problems, r *RunOptions) {
	if !slices.Contains(Orders, r.Order) {
		p.add("run.order", "unknown order %q; use %s", r.Order, strings.Join(Orders, " or "))
	}
	if !slices.Contains(ClustersModes, r.Clusters) {
		p.add("run.clusters", "unknown value %q; use %s", r.Clusters, strings.Join(ClustersModes, " or "))
	}
}

// nonEmpty reports a matrix dimension written as an empty list, which would
// leave no cases to run.
func nonEmpty(p *problems, field string, n int, example string) {
	if n == 0 {
		p.add(field, "the list is empty; list at least one value, such as %s, or leave the field out for the default", example)
	}
}

// duplicates reports values listed twice in a matrix dimension, which would
// give two cases the same ID.
func duplicates[T comparable](p *problems, field string, values []T) {
	seen := make(map[T]bool, len(values))
	for i, v := range values {
		if seen[v] {
			p.add(index(field, i), "%v is listed twice; remove the duplicate", v)
		}
		seen[v] = true
	}
}

func index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

// validateEnrol checks the enrol phase: an install time inside the
// enrolment's load, service counts of the topology, and datapaths that can
// join a running cluster with per-request counters to show it: the share of
// requests through the datapath is counted by its proxies' per-source
// request counters, which l7 proxies keep for the HTTP protocols only.
func validateEnrol(p *problems, s *Spec, known Datapaths) {
	e := s.Enrol
	if e == nil {
		return
	}
	d := e.duration(&s.Load)
	switch {
	case e.Duration < 0:
		p.add("enrol.duration", "must not be negative, got %s; set how long the enrolment case's load runs, or remove it to use load.duration", e.Duration)
	case e.After <= 0:
		p.add("enrol.after", "must be greater than 0, got %s; set when, from the start of the load, the datapath is installed, such as 5s", e.After)
	case time.Duration(e.After) >= d:
		p.add("enrol.after", "%s is not inside the enrolment's %s of load; set it below enrol.duration (or load.duration)", e.After, d)
	}
	for i, n := range e.Services {
		if !slices.Contains(s.Topology.Services, n) {
			p.add(index("enrol.services", i), "%d is not one of topology.services %v; list service counts the topology has, or remove enrol.services", n, s.Topology.Services)
		}
	}
	duplicates(p, "enrol.services", e.Services)
	for i, proto := range s.Load.Protocols {
		if !HTTPAware(proto) {
			p.add(index("load.protocol", i), "enrol counts requests through the datapath with its l7 proxies' counters, which parse http1, h2c and grpc only; remove %s or remove enrol", proto)
		}
	}
	for i, name := range s.Datapaths {
		validateEnrolDatapath(p, s, known, index("datapaths", i), name)
	}
}

// validateEnrolDatapath checks that the datapath (or variant) name can be
// enrolled into a running cluster.
func validateEnrolDatapath(p *problems, s *Spec, known Datapaths, field, name string) {
	o := s.DatapathOptions[name]
	dp, ok := known.Lookup(cmp.Or(o.Datapath, name))
	if !ok {
		return // validateDatapaths said so
	}
	var why string
	switch {
	case dp.Enrol == "":
		why = "it has no way to join a running cluster"
	case dp.Enrol == EnrolNothing:
		return // the control: it installs nothing
	case o.Waypoint:
		why = "enrolling its waypoints is not built"
	case o.Encryption != "":
		why = "enrolling it with encryption " + o.Encryption + " is not built"
	case o.MTLS:
		why = "enrolling it with mtls is not built"
	case o.Proxy == ProxyOff:
		why = "with proxy off it has no proxies to count the requests it carries"
	case o.Mode != ModeL7:
		p.add(field, "enrol counts each 100 ms's share of requests through %s with its proxies' request counters, which l4 proxies lack; set datapathOptions.%s.mode: l7", name, name)
		return
	default:
		return
	}
	p.add(field, "datapath %s cannot enrol into a running cluster: %s; remove it from datapaths or remove enrol", name, why)
}
