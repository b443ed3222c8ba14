package results

import (
	"fmt"
	"strconv"
)

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
	Basis string `json:"basis,omitempty"`
	// Reach is what the datapath's hooks reach, as it describes them.
	Reach   string           `json:"reach,omitempty"`
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
	// BPFConnections is, for a datapath whose BPF maps count sources
	// (ebpf with its proxy), the connections its programs steered from
	// the source since Install: a second count beside the proxies'.
	BPFConnections *uint64 `json:"bpf_connections,omitempty"`
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

// CoverageTable has a row per traffic source of every case with a coverage
// block: what it sent, and how many of those requests went through the
// datapath, crossed encrypted and were observable, as the datapath's own
// counters say. Nil when no case has one.
func CoverageTable(cases []Case) *Table {
	var with []*Case
	for _, c := range groupByPoint(cases) {
		if c.Coverage != nil {
			with = append(with, c)
		}
	}
	if len(with) == 0 {
		return nil
	}
	point := PointColumns(cases)
	t := &Table{Point: len(point), Key: len(point) + 2}
	for _, col := range point {
		t.Header, t.Number = append(t.Header, col.Header), append(t.Number, col.Number)
	}
	t.Header = append(t.Header, "DATAPATH", "SOURCE", "SENT", "ANSWERED", "THROUGH DATAPATH", "ENCRYPTED", "OBSERVABLE", "DP CONNS")
	t.Number = append(t.Number, false, false, true, true, true, true, true, true)
	var notes []string
	for _, c := range with {
		for _, s := range c.Coverage.Sources {
			row := make([]string, 0, len(t.Header))
			for _, col := range point {
				row = append(row, col.Cell(c))
			}
			answered := s.Succeeded
			row = append(row, DatapathLabel(c), s.Source, strconv.FormatUint(s.Sent, 10), ofSent(&answered, s.Sent),
				ofSent(s.Through, s.Sent), ofSent(s.Encrypted, s.Sent), ofSent(s.Observable, s.Sent))
			if c.Coverage.Counted {
				row = append(row, fmt.Sprintf("%d of %d", s.DatapathConnections, s.Connections))
			} else {
				row = append(row, "-")
			}
			t.Rows = append(t.Rows, row)
			if s.Note != "" {
				notes = append(notes, fmt.Sprintf("%s, %s: %s.", DatapathLabel(c), s.Source, s.Note))
			}
		}
		if !c.Coverage.Counted {
			notes = append(notes, fmt.Sprintf("%s: not counted: %s.", DatapathLabel(c), c.Coverage.Reason))
		}
		if c.Coverage.Reach != "" && missed(c.Coverage) {
			notes = append(notes, fmt.Sprintf("%s reaches by %s.", DatapathLabel(c), c.Coverage.Reach))
		}
	}
	t.Notes = append([]string{"Every source sent the same load to the same services at once; ANSWERED counts its 2xx responses (strict mTLS refuses plaintext from outside the mesh). THROUGH DATAPATH counts the requests the datapath took in hand, by its own per-source counters (the proxies' outbound listeners, keyed by source address; at l4 the requests on the connections they counted, DP CONNS); ENCRYPTED those that went on over mTLS; OBSERVABLE those whose source the datapath named and whose bytes it counted."}, notes...)
	return t
}

// ofSent writes part of sent requests with its share, "not counted" for a
// nil part.
func ofSent(part *uint64, sent uint64) string {
	if part == nil {
		return "not counted"
	}
	f := Share(part, sent)
	if f == nil {
		return strconv.FormatUint(*part, 10)
	}
	return fmt.Sprintf("%d (%s%%)", *part, strconv.FormatFloat(*f*100, 'f', 0, 64))
}

// missed reports whether the datapath took in hand less than all of some
// source's requests.
func missed(c *Coverage) bool {
	for _, s := range c.Sources {
		if s.Through != nil && *s.Through < s.Sent {
			return true
		}
	}
	return false
}
