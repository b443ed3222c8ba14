package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Expand turns a defaulted, valid spec into its cases: every combination of
// protocols × placements × services × rates × connections × requestBytes ×
// responseBytes × datapaths, nested in that order with datapaths innermost,
// so the datapaths of one point run back to back and are compared under the
// same machine conditions. A stream case has no rate and no sizes (Rate,
// RequestBytes and ResponseBytes 0): it is one point per connections. Each case carries its datapath's options, with
// defaults for those not given; mode l7 with a protocol the l7 proxy does
// not parse becomes l4, marked L7Fallback.
func Expand(s *Spec) []Case {
	t, l := &s.Topology, &s.Load
	var cases []Case
	for _, protocol := range l.Protocols {
		rates, reqs, resps := l.Rates, l.RequestBytes, l.ResponseBytes
		switch {
		case protocol == Stream:
			// A stream sends no requests: rates and sizes do not apply.
			rates, reqs, resps = []float64{0}, []int{0}, []int{0}
		case l.Search != nil:
			rates = []float64{0} // the search finds the rate
		}
		for _, placement := range t.Placements {
			for _, services := range t.Services {
				for _, rate := range rates {
					for _, conns := range l.Connections {
						for _, req := range reqs {
							for _, resp := range resps {
								var point []Case
								for _, dp := range s.Datapaths {
									opts, fallback := protocolOptions(options(s, dp), protocol)
									kind, variant := dp, ""
									if opts.Datapath != "" {
										kind, variant, opts.Datapath = opts.Datapath, dp, ""
									}
									point = append(point, Case{
										ID:                 caseID(protocol, dp, opts, placement, services, rate, conns, req, resp),
										Datapath:           kind,
										Variant:            variant,
										Options:            opts,
										L7Fallback:         fallback,
										Placement:          placement,
										Protocol:           protocol,
										Client:             l.Client,
										ConnectionRequests: l.ConnectionRequests,
										Nodes:              t.Nodes,
										Services:           services,
										PodsPerService:     t.PodsPerService,
										ClientPods:         t.ClientPods,
										PodCIDR:            t.PodCIDR,
										ServiceCIDR:        t.ServiceCIDR,
										Unmeshed:           t.Unmeshed,
										Rate:               rate,
										Search:             l.Search,
										Duration:           time.Duration(l.Duration),
										Warmup:             time.Duration(l.Warmup),
										Connections:        conns,
										RequestBytes:       req,
										ResponseBytes:      resp,
										ServiceTime:        time.Duration(l.ServiceTime),
										Repetitions:        l.Repetitions,
										ProbeRequests:      l.ProbeRequests,
									})
								}
								cases = append(cases, point...)
								cases = append(cases, enrolCases(s, point)...)
							}
						}
					}
				}
			}
		}
	}
	return cases
}

// EnrolSuffix ends the ID of an enrolment case, after its steady case's.
const EnrolSuffix = "/enrol"

// enrolCases are the enrolment cases of a point's steady cases, where the
// scenario has an enrol phase for the point's service count: one per
// datapath, one repetition each (an enrolment happens once per cluster),
// without probe or unmeshed sources, and in a rate search at its lowest
// rate. A datapath that installs nothing
// (none) gets one too: the control, whose transition is the machine's.
func enrolCases(s *Spec, point []Case) []Case {
	e := s.Enrol
	if e == nil || len(point) == 0 || (len(e.Services) > 0 && !slices.Contains(e.Services, point[0].Services)) {
		return nil
	}
	var out []Case
	for _, c := range point {
		c.ID += EnrolSuffix
		c.EnrolAfter = time.Duration(e.After)
		c.Duration = e.duration(&s.Load)
		c.Repetitions, c.ProbeRequests, c.Unmeshed = 1, 0, nil
		if c.Search != nil {
			// No search: an enrolment runs at the search's lowest rate.
			c.Rate, c.Search = c.Search.From, nil
		}
		out = append(out, c)
	}
	return out
}

// duration is the enrolment case's load: Duration, else the load's.
func (e *Enrol) duration(l *Traffic) time.Duration {
	if e.Duration > 0 {
		return time.Duration(e.Duration)
	}
	return time.Duration(l.Duration)
}

// caseID names a case's point. An http1 case's ID does not name its
// protocol, so that IDs from before the protocol dimension, such as a
// baseline's, still match; every other protocol ends the ID, and so does a
// waypoint, with where it runs. A stream's ID names no rate and no sizes,
// which it has not.
func caseID(protocol, dp string, o DatapathOptions, placement string, services int, rate float64, conns, req, resp int) string {
	if protocol == Stream {
		return fmt.Sprintf("%s/%s/svc=%d/conns=%d/proto=%s", dp, placement, services, conns, protocol)
	}
	r := strconv.FormatFloat(rate, 'f', -1, 64)
	if rate == 0 {
		r = "search" // a search case finds its rate
	}
	id := fmt.Sprintf("%s/%s/svc=%d/rate=%s/conns=%d/req=%d/resp=%d",
		dp, placement, services, r, conns, req, resp)
	if protocol != HTTP1 {
		id += "/proto=" + protocol
	}
	if o.Waypoint {
		id += "/waypoint=" + o.WaypointNode
	}
	return id
}

// protocolOptions are o for a case of protocol: mode l7 falls back to l4
// for a protocol the l7 proxy does not parse, and says so.
func protocolOptions(o DatapathOptions, protocol string) (DatapathOptions, bool) {
	if o.Mode != ModeL7 || HTTPAware(protocol) {
		return o, false
	}
	o.Mode = ModeL4
	return o, true
}

// options are the datapath's options with defaults for those not given.
func options(s *Spec, dp string) DatapathOptions {
	o := s.DatapathOptions[dp]
	if o.Mode == "" {
		o.Mode = DefaultMode
	}
	if o.Proxy == "" {
		o.Proxy = DefaultProxy
	}
	if o.Waypoint && o.WaypointNode == "" {
		o.WaypointNode = DefaultWaypointNode
	}
	return o
}

// Hash identifies what a spec asks to run: the SHA-256, in hex, of the spec
// with defaults for the known datapaths applied, written back as YAML. Leaving a field out and
// writing its default give the same hash. s itself is not changed.
func Hash(s *Spec, known Datapaths) string {
	c := s.clone()
	SetDefaults(c, known)
	if slices.Equal(c.Load.Protocols, []string{DefaultProtocol}) {
		// Omitted from the YAML (omitempty), so that a scenario written
		// before the protocol dimension keeps its hash.
		c.Load.Protocols = nil
	}
	// Likewise the run section at its defaults (omitempty drops it).
	if c.Run.Order == DefaultOrder {
		c.Run.Order = ""
	}
	if c.Run.Clusters == DefaultClusters {
		c.Run.Clusters = ""
	}
	for dp, o := range c.DatapathOptions {
		if o.Attach == AttachPod {
			// The default, omitted (omitempty) so that a scenario written
			// before attach keeps its hash.
			o.Attach = ""
			c.DatapathOptions[dp] = o
		}
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		// Only a MarshalYAML method can fail, and Duration's does not.
		panic(fmt.Sprintf("scenarios: marshal spec: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// clone copies s deeply enough that SetDefaults on the copy leaves s alone.
func (s *Spec) clone() *Spec {
	c := *s
	c.Topology.Services = slices.Clone(s.Topology.Services)
	c.Topology.Placements = slices.Clone(s.Topology.Placements)
	if s.Topology.Unmeshed != nil {
		u := *s.Topology.Unmeshed
		u.Sources = slices.Clone(u.Sources)
		c.Topology.Unmeshed = &u
	}
	if s.Enrol != nil {
		e := *s.Enrol
		e.Services = slices.Clone(e.Services)
		c.Enrol = &e
	}
	c.Datapaths = slices.Clone(s.Datapaths)
	c.Load.Protocols = slices.Clone(s.Load.Protocols)
	c.Load.Rates = slices.Clone(s.Load.Rates)
	c.Load.Connections = slices.Clone(s.Load.Connections)
	c.Load.RequestBytes = slices.Clone(s.Load.RequestBytes)
	c.Load.ResponseBytes = slices.Clone(s.Load.ResponseBytes)
	c.DatapathOptions = maps.Clone(s.DatapathOptions)
	c.Gate = maps.Clone(s.Gate)
	if s.Load.Search != nil {
		search := *s.Load.Search
		c.Load.Search = &search
	}
	return &c
}
