package scenarios

import "time"

// Defaults for fields left out of a scenario file.
const (
	DefaultNodes          = 3
	DefaultServices       = 1
	DefaultPodsPerService = 1
	DefaultClientPods     = 1
	DefaultPlacement      = CrossNode
	DefaultPodCIDR        = "10.244.0.0/16"
	DefaultServiceCIDR    = "10.96.0.0/16"
	DefaultProtocol       = HTTP1
	DefaultRate           = 1000
	DefaultDuration       = 10 * time.Second
	DefaultWarmup         = 2 * time.Second
	DefaultConnections    = 8
	DefaultRequestBytes   = 0
	DefaultResponseBytes  = 1024
	DefaultRepetitions    = 1
	DefaultProbeRequests  = 100
	DefaultMode           = ModeL4
	DefaultProxy          = ProxyOn
	DefaultWaypointNode   = WaypointServerNode
	DefaultOrder          = OrderInterleaved
	DefaultClusters       = ClustersFresh
)

// Proxy modes and switches of DatapathOptions.
const (
	ModeL4   = "l4"
	ModeL7   = "l7"
	ProxyOn  = "on"
	ProxyOff = "off"
)

// SetDefaults fills every field that the file left out (or, for a Spec built
// in code, left zero) with its default, and gives every known datapath in
// Datapaths an entry in DatapathOptions. The default datapath is the first
// known. A field written explicitly keeps its
// value even when zero, so "warmup: 0s" means no warm-up and "nodes: 0" is
// reported by Validate rather than silently replaced. SetDefaults only changes
// s.
func SetDefaults(s *Spec, known Datapaths) {
	d := defaulter{src: s.src}
	d.str(&s.APIVersion, "apiVersion", APIVersion)
	d.str(&s.Kind, "kind", Kind)

	t := &s.Topology
	d.int(&t.Nodes, "topology.nodes", DefaultNodes)
	d.ints(&t.Services, "topology.services", DefaultServices)
	d.int(&t.PodsPerService, "topology.podsPerService", DefaultPodsPerService)
	d.int(&t.ClientPods, "topology.clientPods", DefaultClientPods)
	d.strs(&t.Placements, "topology.placements", DefaultPlacement)
	d.str(&t.PodCIDR, "topology.podCIDR", DefaultPodCIDR)
	d.str(&t.ServiceCIDR, "topology.serviceCIDR", DefaultServiceCIDR)

	if def := known.defaultName(); def != "" {
		d.strs(&s.Datapaths, "datapaths", def)
	}

	l := &s.Load
	d.strs(&l.Protocols, "load.protocol", DefaultProtocol)
	if len(l.Rates) == 0 && !d.src.has("load.rates") {
		l.Rates = []float64{DefaultRate}
	}
	d.duration(&l.Duration, "load.duration", DefaultDuration)
	d.duration(&l.Warmup, "load.warmup", DefaultWarmup)
	d.ints(&l.Connections, "load.connections", DefaultConnections)
	d.ints(&l.RequestBytes, "load.requestBytes", DefaultRequestBytes)
	d.ints(&l.ResponseBytes, "load.responseBytes", DefaultResponseBytes)
	d.int(&l.Repetitions, "load.repetitions", DefaultRepetitions)
	d.int(&l.ProbeRequests, "load.probeRequests", DefaultProbeRequests)
	if l.Search != nil {
		setSearchDefaults(d, l.Search)
	}

	d.str(&s.Run.Order, "run.order", DefaultOrder)
	d.str(&s.Run.Clusters, "run.clusters", DefaultClusters)

	for _, dp := range s.Datapaths {
		if _, ok := s.DatapathOptions[dp]; ok || !known.known(dp) {
			continue
		}
		if s.DatapathOptions == nil {
			s.DatapathOptions = make(map[string]DatapathOptions)
		}
		s.DatapathOptions[dp] = DatapathOptions{}
	}
	for dp, o := range s.DatapathOptions {
		d.str(&o.Mode, "datapathOptions."+dp+".mode", DefaultMode)
		d.str(&o.Proxy, "datapathOptions."+dp+".proxy", DefaultProxy)
		if o.Waypoint {
			d.str(&o.WaypointNode, "datapathOptions."+dp+".waypointNode", DefaultWaypointNode)
		}
		s.DatapathOptions[dp] = o
	}
}

// defaulter sets a field to its default when it is zero and was not written.
type defaulter struct{ src *source }

func (d defaulter) str(v *string, field, def string) {
	if *v == "" && !d.src.has(field) {
		*v = def
	}
}

func (d defaulter) int(v *int, field string, def int) {
	if *v == 0 && !d.src.has(field) {
		*v = def
	}
}

func (d defaulter) duration(v *Duration, field string, def time.Duration) {
	if *v == 0 && !d.src.has(field) {
		*v = Duration(def)
	}
}

func (d defaulter) ints(v *[]int, field string, def int) {
	if len(*v) == 0 && !d.src.has(field) {
		*v = []int{def}
	}
}

func (d defaulter) strs(v *[]string, field, def string) {
	if len(*v) == 0 && !d.src.has(field) {
		*v = []string{def}
	}
}
