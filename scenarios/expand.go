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
// placements × services × rates × connections × requestBytes × responseBytes
// × datapaths, nested in that order with datapaths innermost, so the
// datapaths of one point run back to back and are compared under the same
// machine conditions. Each case carries its datapath's options, with defaults
// for those not given.
func Expand(s *Spec) []Case {
	t, l := &s.Topology, &s.Load
	var cases []Case
	for _, placement := range t.Placements {
		for _, services := range t.Services {
			for _, rate := range l.Rates {
				for _, conns := range l.Connections {
					for _, req := range l.RequestBytes {
						for _, resp := range l.ResponseBytes {
							for _, dp := range s.Datapaths {
								cases = append(cases, Case{
									ID:             caseID(dp, placement, services, rate, conns, req, resp),
									Datapath:       dp,
									Options:        options(s, dp),
									Placement:      placement,
									Nodes:          t.Nodes,
									Services:       services,
									PodsPerService: t.PodsPerService,
									ClientPods:     t.ClientPods,
									PodCIDR:        t.PodCIDR,
									ServiceCIDR:    t.ServiceCIDR,
									Rate:           rate,
									Duration:       time.Duration(l.Duration),
									Warmup:         time.Duration(l.Warmup),
									Connections:    conns,
									RequestBytes:   req,
									ResponseBytes:  resp,
									ServiceTime:    time.Duration(l.ServiceTime),
									Repetitions:    l.Repetitions,
									ProbeRequests:  l.ProbeRequests,
								})
							}
						}
					}
				}
			}
		}
	}
	return cases
}

func caseID(dp, placement string, services int, rate float64, conns, req, resp int) string {
	return fmt.Sprintf("%s/%s/svc=%d/rate=%s/conns=%d/req=%d/resp=%d",
		dp, placement, services, strconv.FormatFloat(rate, 'f', -1, 64), conns, req, resp)
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
	return o
}

// Hash identifies what a spec asks to run: the SHA-256, in hex, of the spec
// with defaults for the known datapaths applied, written back as YAML. Leaving a field out and
// writing its default give the same hash. s itself is not changed.
func Hash(s *Spec, known Datapaths) string {
	c := s.clone()
	SetDefaults(c, known)
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
	c.Datapaths = slices.Clone(s.Datapaths)
	c.Load.Rates = slices.Clone(s.Load.Rates)
	c.Load.Connections = slices.Clone(s.Load.Connections)
	c.Load.RequestBytes = slices.Clone(s.Load.RequestBytes)
	c.Load.ResponseBytes = slices.Clone(s.Load.ResponseBytes)
	c.DatapathOptions = maps.Clone(s.DatapathOptions)
	c.Gate = maps.Clone(s.Gate)
	return &c
}
