package results

// The traffic sources of a coverage block, as scenarios name them.
const (
	SourceMeshed      = "meshed"
	SourceMislabelled = "mislabelled"
	SourceHost        = "host"
)

// Coverage is what a case's datapath saw of each traffic source: the
// meshed client pods and the unmeshed sources beside them, all sending the
// same load to the same services at once, for one load duration after the
// measured repetitions.
type Coverage struct {
	// Counted is false when the datapath has no per-source counters
	// (none; ebpf with the proxy off): Reason then says why, and no
	// source has figures beyond what it sent.
	Counted bool   `json:"counted"`
	Reason  string `json:"reason,omitempty"`
	// CountedBy names the counters: the proxies' outbound listeners,
	// keyed by source address.
	CountedBy string `json:"counted_by,omitempty"`
	// Basis is "requests" when the datapath counted the requests
	// themselves (l7), "connections" when it counted connections and the
	// requests on them are attributed by the share of the source's
	// connections it took in hand (l4: exact when it took all or none).
	Basis   string           `json:"basis,omitempty"`
	Sources []SourceCoverage `json:"sources"`
}

// The bases of a coverage count.
const (
	BasisRequests    = "requests"
	BasisConnections = "connections"
)

// SourceCoverage is one traffic source of a coverage block.
type SourceCoverage struct {
	// Source is SourceMeshed, SourceMislabelled or SourceHost.
	Source string `json:"source"`
	// Agents is how many pods or host processes sent; Addresses are the
	// source addresses the datapath's counters were read for.
	Agents    int      `json:"agents"`
	Addresses []string `json:"addresses"`
	// Sent and Succeeded count the requests the source's load agents sent
	// during the coverage load, and those answered 2xx.
	Sent      uint64 `json:"sent"`
	Succeeded uint64 `json:"succeeded"`
	// Connections is how many connections the source's load agents opened
	// since they started; DatapathConnections how many of them the
	// datapath's counters saw, DatapathBytes the bytes from the source
	// they counted during the coverage load.
	Connections         uint64 `json:"connections"`
	DatapathConnections uint64 `json:"datapath_connections"`
	DatapathBytes       uint64 `json:"datapath_bytes"`
	// Through counts the requests that went through the datapath,
	// Encrypted those of them that went on over mTLS, and Observable those
	// the datapath could attribute to the source (it named the source's
	// address and counted its bytes); nil when not Counted.
	Through    *uint64 `json:"through,omitempty"`
	Encrypted  *uint64 `json:"encrypted,omitempty"`
	Observable *uint64 `json:"observable,omitempty"`
	// Note says what the figures mean when the datapath missed the source.
	Note string `json:"note,omitempty"`
}

// Share is part over whole as a fraction, nil when whole is zero or part
// is nil.
func Share(part *uint64, whole uint64) *float64 {
	if part == nil || whole == 0 {
		return nil
	}
	f := float64(*part) / float64(whole)
	return &f
}

// MinCoverage is the smallest share of any source's requests that went
// through the datapath, nil without counted coverage: the gate's coverage
// metric.
func (c *Case) MinCoverage() *float64 {
	if c.Coverage == nil || !c.Coverage.Counted {
		return nil
	}
	var low *float64
	for _, s := range c.Coverage.Sources {
		if f := Share(s.Through, s.Sent); f != nil && (low == nil || *f < *low) {
			low = f
		}
	}
	return low
}
