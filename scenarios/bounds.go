package scenarios

import (
	"maps"
	"slices"
	"time"

	"github.com/meshbench/meshbench/results/compare"
)

// Upper (and some lower) bounds of numeric fields: what one machine running
// a kind cluster can honour. See doc.go for why each is where it is.
const (
	MinRate           = 1
	MaxRate           = 200_000
	MaxNodes          = 64
	MaxServices       = 1000
	MaxPodsPerService = MaxPodsPerNode
	MaxDuration       = time.Hour
	MaxWarmup         = 10 * time.Minute
	MaxServiceTime    = 10 * time.Second
	MaxConnections    = 4096
	MaxBodyBytes      = 16 << 20
	// MaxGRPCBytes is the largest request or response a grpc case can
	// carry: gRPC's default 4 MiB limit on a received message less the
	// protobuf framing of the bytes field that holds the body.
	MaxGRPCBytes     = 4<<20 - 16
	MaxRepetitions   = 100
	MaxProbeRequests = 100_000
	MaxCases         = 1000
)

// validateBounds reports values above what the harness can run; lower
// bounds other than the rate's are checked beside each field.
func validateBounds(p *problems, s *Spec) {
	t, l := &s.Topology, &s.Load
	intMax(p, "topology.nodes", t.Nodes, MaxNodes)
	for i, n := range t.Services {
		intMax(p, index("topology.services", i), n, MaxServices)
	}
	intMax(p, "topology.podsPerService", t.PodsPerService, MaxPodsPerService)
	for i, r := range l.Rates {
		if r > 0 && (r < MinRate || r > MaxRate) {
			p.add(index("load.rates", i), "rate %g is outside the allowed range %d to %d requests per second", r, MinRate, MaxRate)
		}
	}
	durMax(p, "load.duration", l.Duration, MaxDuration)
	durMax(p, "load.warmup", l.Warmup, MaxWarmup)
	durMax(p, "load.serviceTime", l.ServiceTime, MaxServiceTime)
	if s.Enrol != nil {
		durMax(p, "enrol.duration", s.Enrol.Duration, MaxDuration)
	}
	for i, c := range l.Connections {
		intMax(p, index("load.connections", i), c, MaxConnections)
	}
	for i, n := range l.RequestBytes {
		intMax(p, index("load.requestBytes", i), n, MaxBodyBytes)
	}
	for i, n := range l.ResponseBytes {
		intMax(p, index("load.responseBytes", i), n, MaxBodyBytes)
	}
	intMax(p, "load.repetitions", l.Repetitions, MaxRepetitions)
	intMax(p, "load.probeRequests", l.ProbeRequests, MaxProbeRequests)
}

func intMax(p *problems, field string, v, limit int) {
	if v > limit {
		p.add(field, "%d is above the allowed maximum of %d; lower it", v, limit)
	}
}

func durMax(p *problems, field string, v Duration, limit time.Duration) {
	if time.Duration(v) > limit {
		p.add(field, "%s is above the allowed maximum of %s; lower it", time.Duration(v), limit)
	}
}

// matrixSize is the number of cases Expand would make, or MaxCases+1 when
// it is larger; it multiplies without overflow and never expands.
func matrixSize(s *Spec) int {
	n := 1
	for _, d := range []int{len(s.Load.Protocols), len(s.Topology.Placements), len(s.Topology.Services), len(s.Load.Rates),
		len(s.Load.Connections), len(s.Load.RequestBytes), len(s.Load.ResponseBytes), len(s.Datapaths)} {
		if d == 0 {
			return 0
		}
		if n > MaxCases/d {
			return MaxCases + 1
		}
		n *= d
	}
	if s.Enrol != nil && n <= MaxCases/2 {
		n *= 2 // at most an enrolment case beside each steady one
	} else if s.Enrol != nil {
		return MaxCases + 1
	}
	return n
}

// validateMatrix runs last and only on an otherwise valid spec, so that a
// file full of bad values gets those reported, not its size.
func validateMatrix(p *problems, s *Spec) {
	if len(p.errs) == 0 && matrixSize(s) > MaxCases {
		p.add("datapaths", "the matrix expands to more than %d cases (protocols × placements × services × rates × connections × requestBytes × responseBytes × datapaths); list fewer values", MaxCases)
	}
}

// validateGate parses each limit as `meshbench gate --max` does.
func validateGate(p *problems, s *Spec) {
	for _, k := range slices.Sorted(maps.Keys(s.Gate)) {
		if _, err := compare.LimitsFromMap(map[string]string{k: s.Gate[k]}); err != nil {
			p.add("gate."+k, "%v", err)
		}
	}
}
