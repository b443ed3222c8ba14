package results

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// The verdicts of a claim.
const (
	Holds         = "holds"
	DoesNotHold   = "does not hold"
	NotMeasurable = "not measurable here"
)

// The datapaths the claims compare: the sidecar mesh, and the node-level
// datapaths the claims are made for.
const (
	sidecarDatapath   = "sidecar"
	nodeproxyDatapath = "nodeproxy"
	ebpfDatapath      = "ebpf"
)

// A claim is one thing said for node-level datapaths against a sidecar
// mesh: its name in the claims table, and the one sentence that states it
// with the threshold its verdict applies.
type claim struct {
	name, statement string
}

// The claims, in table order.
var (
	claimProxies = claim{"proxies per node", "a node-level datapath (nodeproxy, ebpf) runs one proxy per node where a sidecar mesh runs one per pod; holds when the busiest node runs fewer of its proxies than of sidecars (figures: the busiest node's proxies, of all the case's)."}
	claimMemory  = claim{"memory per node", "a node-level datapath costs a node less memory than a sidecar mesh; holds when its datapath memory on the busiest node (DP MEM/NODE) is lower than sidecar's."}
	claimGrowth  = claim{"memory growth", "a node-level datapath's memory per node grows less with the services than a sidecar mesh's, whose proxies come with the pods; holds when its busiest-node memory grows by less than sidecar's from the run's fewest services to its most (figures: the growth between the SERVICES shown)."}
	claimHops    = claim{"hops per request", "an eBPF datapath gives requests a shorter packet path than a sidecar mesh; holds when its hops per request are fewer than sidecar's."}
	claimPods    = claim{"mislabelled pods", "a node-level datapath takes in hand the traffic of pods the injector skipped (mislabelled), which a sidecar mesh misses; holds when it took 100% of their requests and sidecar 0%, by the datapaths' own counters (the coverage table)."}
	claimHosts   = claim{"host processes", "a node-level datapath takes in hand the traffic of processes on a node's host network, outside any pod, which a sidecar mesh misses; holds when it took 100% of their requests and sidecar 0% (the coverage table)."}
	claimEnrol   = claim{"enrolment", "a node-level datapath joins running pods without restarting them, where a sidecar mesh restarts every pod, and so disrupts the load less; holds when, installed into the running cluster under load (the scenario's enrol phase), it restarted no pod while sidecar did, its load saw no more errors from the install to the end than sidecar's, and it carried as large a share of the last second's requests as sidecar (figures: pods restarted, those errors, p99 in the transition, from the install's start to its end, and that share)."}
	claims       = []claim{claimProxies, claimMemory, claimGrowth, claimHops, claimPods, claimHosts, claimEnrol}
)

// claimRow is one verdict of the claims table: a claim on one node-level
// case (nil for a verdict on the whole run), its figure and sidecar's,
// and why it is not measurable when it is not.
type claimRow struct {
	claim           claim
	at              *Case
	services        string // the SERVICES cell when the row spans several
	figure, sidecar string
	verdict, reason string
}

// ClaimsTable judges the claims made for node-level datapaths against a
// sidecar mesh on the run's own figures: one row per claim and node-level
// case (nodeproxy, ebpf and their variants), each compared with the
// sidecar case at the same matrix point, with the figure measured for
// both and the verdict, holds or does not hold by the threshold its claim
// states in the notes, or not measurable here with the reason in a note.
// A claim that nothing in the run can measure (no such datapath, one
// service count, no unmeshed sources, enrolment) has one row for the run.
// Stream and search cases, measured on other terms, are left out. Nil
// when the run has no sidecar, nodeproxy or ebpf case.
func ClaimsTable(cases []Case) *Table {
	cases = slices.DeleteFunc(slices.Clone(cases), ownTable)
	enrolled := groupByPoint(slices.DeleteFunc(slices.Clone(cases), func(c Case) bool { return !c.Enrolling() }))
	ordered := groupByPoint(slices.DeleteFunc(slices.Clone(cases), func(c Case) bool { return c.Enrolling() }))
	if !slices.ContainsFunc(append(slices.Clone(ordered), enrolled...), func(c *Case) bool { return nodeLevel(c) || baseDatapath(c) == sidecarDatapath }) {
		return nil
	}
	var rows []claimRow
	rows = append(rows, pointClaim(ordered, claimProxies, nodeLevel, proxiesFigure)...)
	rows = append(rows, pointClaim(ordered, claimMemory, nodeLevel, memoryFigure)...)
	rows = append(rows, growthClaim(ordered)...)
	rows = append(rows, pointClaim(ordered, claimHops, func(c *Case) bool { return baseDatapath(c) == ebpfDatapath }, hopsFigure)...)
	rows = append(rows, coverageClaim(ordered, claimPods, SourceMislabelled)...)
	rows = append(rows, coverageClaim(ordered, claimHosts, SourceHost)...)
	rows = append(rows, enrolClaim(enrolled)...)
	return claimsTable(cases, rows)
}

// claimsTable lays rows out: the claim, the point, the datapath, the
// figures and the verdict, with the claims' statements and the reasons
// in the notes.
func claimsTable(cases []Case, rows []claimRow) *Table {
	point := PointColumns(cases)
	t := &Table{Point: 1 + len(point), Key: 2 + len(point)}
	t.Header, t.Number = []string{"CLAIM"}, []bool{false}
	for _, col := range point {
		t.Header, t.Number = append(t.Header, col.Header), append(t.Number, col.Number)
	}
	t.Header = append(t.Header, "DATAPATH", "MEASURED", "SIDECAR", "VERDICT")
	t.Number = append(t.Number, false, true, true, false)
	var reasons []string
	for _, r := range rows {
		row := []string{r.claim.name}
		for _, col := range point {
			switch {
			case r.at == nil:
				row = append(row, "-")
			case r.services != "" && col.Header == servicesHeader:
				row = append(row, r.services)
			default:
				row = append(row, col.Cell(r.at))
			}
		}
		datapath := "-"
		if r.at != nil {
			datapath = DatapathLabel(r.at)
		}
		verdict := r.verdict
		if r.verdict == NotMeasurable {
			n := slices.Index(reasons, r.reason) + 1
			if n == 0 {
				reasons = append(reasons, r.reason)
				n = len(reasons)
			}
			verdict = fmt.Sprintf("%s [%d]", NotMeasurable, n)
		}
		t.Rows = append(t.Rows, append(row, datapath, orDash(r.figure), orDash(r.sidecar), verdict))
	}
	t.Notes = []string{"Each verdict compares a node-level datapath with the sidecar case at the same point (of the same proxy mode and mTLS when the run has several), on this run's figures: " + Holds + " or " + DoesNotHold + " by the claim's threshold, " + NotMeasurable + " when the run lacks a case or a figure the claim needs."}
	for _, c := range claims {
		t.Notes = append(t.Notes, c.name+": "+c.statement)
	}
	for i, r := range reasons {
		t.Notes = append(t.Notes, fmt.Sprintf("[%d] %s.", i+1, r))
	}
	return t
}

// servicesHeader is the SERVICES point column's header.
const servicesHeader = "SERVICES"

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// baseDatapath is the datapath c runs: the one its variant is of, or its
// own.
func baseDatapath(c *Case) string {
	if c.VariantOf != "" {
		return c.VariantOf
	}
	return c.Datapath
}

// nodeLevel reports whether c's datapath is one the claims are made for.
func nodeLevel(c *Case) bool {
	b := baseDatapath(c)
	return b == nodeproxyDatapath || b == ebpfDatapath
}

// figureFunc writes a case's figure for a claim, and a node-level case's
// verdict against sidecar's figure; a missing figure is a reason instead.
type figureFunc func(c, sidecar *Case) (figure, sidecarFigure, verdict, reason string)

// pointClaim judges cl on every case of ordered that is reports, each
// against the sidecar case at its point, by figure; one row for the run
// when there is no such case.
func pointClaim(ordered []*Case, cl claim, is func(c *Case) bool, figure figureFunc) []claimRow {
	var rows []claimRow
	for _, c := range ordered {
		if !is(c) {
			continue
		}
		row := claimRow{claim: cl, at: c, verdict: NotMeasurable}
		ref, why := sidecarFor(ordered, c, false)
		switch {
		case failed(c):
			row.reason = "the case did not finish ok (see the latency table)"
		case ref == nil:
			row.reason = why
		default:
			row.figure, row.sidecar, row.verdict, row.reason = figure(c, ref)
			if row.reason != "" {
				row.verdict = NotMeasurable
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		rows = append(rows, claimRow{claim: cl, verdict: NotMeasurable, reason: "the run has no " + wanted(cl) + " case"})
	}
	return rows
}

// wanted names the datapaths a claim is judged on.
func wanted(cl claim) string {
	if cl == claimHops {
		return ebpfDatapath
	}
	return nodeproxyDatapath + " or " + ebpfDatapath
}

// sidecarFor is the sidecar case at c's point that finished ok, with
// per-node costs when costs is set: of c's proxy mode and mTLS when there
// is one, else the first. When there is none, why says so.
func sidecarFor(ordered []*Case, c *Case, costs bool) (ref *Case, why string) {
	var found []*Case
	for _, s := range ordered {
		if baseDatapath(s) == sidecarDatapath && s.Point() == c.Point() {
			found = append(found, s)
		}
	}
	if len(found) == 0 {
		return nil, "the run has no sidecar case at this point"
	}
	found = slices.DeleteFunc(found, func(s *Case) bool { return failed(s) || costs && len(s.NodeCosts) == 0 })
	switch {
	case len(found) > 0:
	case costs:
		return nil, "no sidecar case at this point finished ok with per-node costs"
	default:
		return nil, "no sidecar case at this point finished ok"
	}
	for _, s := range found {
		if s.Mode == c.Mode && s.MTLS == c.MTLS {
			return s, ""
		}
	}
	return found[0], ""
}

// busiest is the largest per-node figure f of c, false without per-node
// figures.
func busiest(c *Case, f func(NodeCost) float64) (float64, bool) {
	if len(c.NodeCosts) == 0 {
		return 0, false
	}
	m := f(c.NodeCosts[0])
	for _, n := range c.NodeCosts[1:] {
		m = max(m, f(n))
	}
	return m, true
}

// noCosts is why a per-node claim is not measurable for a case.
const noCosts = "the case has no per-node costs"

func proxiesFigure(c, ref *Case) (string, string, string, string) {
	proxies := func(n NodeCost) float64 { return float64(n.Proxies) }
	mine, ok := busiest(c, proxies)
	theirs, refOK := busiest(ref, proxies)
	if !ok || !refOK {
		return "", "", "", noCosts + " (sidecar's or its own)"
	}
	total := func(c *Case) int {
		n := 0
		for _, nc := range c.NodeCosts {
			n += nc.Proxies
		}
		return n
	}
	write := func(busiest float64, all int) string {
		return fmt.Sprintf("%s of %d", FormatNumber(busiest), all)
	}
	return write(mine, total(c)), write(theirs, total(ref)), lower(mine, theirs), ""
}

func memoryFigure(c, ref *Case) (string, string, string, string) {
	memory := func(n NodeCost) float64 { return n.DatapathMemoryBytesMean }
	mine, ok := busiest(c, memory)
	theirs, refOK := busiest(ref, memory)
	if !ok || !refOK {
		return "", "", "", noCosts + " (sidecar's or its own)"
	}
	return FormatMemory(mine), FormatMemory(theirs), lower(mine, theirs), ""
}

func hopsFigure(c, ref *Case) (string, string, string, string) {
	if c.Path == nil || ref.Path == nil {
		return "", "", "", "the case or sidecar's has no path probe"
	}
	return FormatNumber(c.Path.HopsPerRequest), FormatNumber(ref.Path.HopsPerRequest), lower(c.Path.HopsPerRequest, ref.Path.HopsPerRequest), ""
}

// lower is the verdict of a claim that mine is below sidecar's theirs.
func lower(mine, theirs float64) string {
	if mine < theirs {
		return Holds
	}
	return DoesNotHold
}

// growthClaim judges the memory growth of every node-level datapath (a
// case's label at a point but for services) from the fewest services it
// finished ok at to the most, against sidecar's between the same points.
func growthClaim(ordered []*Case) []claimRow {
	var counts []int
	for _, c := range ordered {
		if !slices.Contains(counts, c.Services) {
			counts = append(counts, c.Services)
		}
	}
	if len(counts) < 2 {
		return []claimRow{{claim: claimGrowth, verdict: NotMeasurable, reason: "the run measured one service count; the claim needs two or more (topology.services)"}}
	}
	// A series is one datapath at one point but for services, in order of
	// first appearance.
	type key struct {
		point Point
		label string
	}
	seriesKey := func(c *Case) key {
		p := c.Point()
		p.Services = 0
		return key{p, c.Datapath + " " + DatapathLabel(c)}
	}
	var keys []key
	series := map[key][]*Case{}
	for _, c := range ordered {
		if !nodeLevel(c) {
			continue
		}
		k := seriesKey(c)
		if _, ok := series[k]; !ok {
			keys = append(keys, k)
		}
		series[k] = append(series[k], c)
	}
	if len(keys) == 0 {
		return []claimRow{{claim: claimGrowth, verdict: NotMeasurable, reason: "the run has no " + wanted(claimGrowth) + " case"}}
	}
	memory := func(n NodeCost) float64 { return n.DatapathMemoryBytesMean }
	var rows []claimRow
	for _, k := range keys {
		measured := slices.DeleteFunc(slices.Clone(series[k]), func(c *Case) bool { return failed(c) || len(c.NodeCosts) == 0 })
		slices.SortStableFunc(measured, func(a, b *Case) int { return a.Services - b.Services })
		last := series[k][len(series[k])-1]
		row := claimRow{claim: claimGrowth, at: last, verdict: NotMeasurable}
		if len(measured) < 2 || measured[0].Services == measured[len(measured)-1].Services {
			row.reason = "the datapath has per-node costs at fewer than two service counts"
			rows = append(rows, row)
			continue
		}
		lo, hi := measured[0], measured[len(measured)-1]
		row.at = hi
		row.services = strconv.Itoa(lo.Services) + "→" + strconv.Itoa(hi.Services)
		refLo, whyLo := sidecarFor(ordered, lo, true)
		refHi, whyHi := sidecarFor(ordered, hi, true)
		switch {
		case refLo == nil:
			row.reason = whyLo + " (" + servicesText(lo.Services) + ")"
		case refHi == nil:
			row.reason = whyHi + " (" + servicesText(hi.Services) + ")"
		default:
			growth := func(lo, hi *Case) float64 {
				a, _ := busiest(lo, memory)
				b, _ := busiest(hi, memory)
				return b - a
			}
			mine, theirs := growth(lo, hi), growth(refLo, refHi)
			row.figure, row.sidecar, row.verdict = signedMemory(mine), signedMemory(theirs), lower(mine, theirs)
		}
		rows = append(rows, row)
	}
	return rows
}

// signedMemory writes a memory growth: "+85.2 MiB", "-12.0 KiB".
func signedMemory(bytes float64) string {
	sign := "+"
	if bytes < 0 {
		sign = "-"
	}
	return sign + FormatMemory(math.Abs(bytes))
}

func servicesText(n int) string {
	if n == 1 {
		return "1 service"
	}
	return strconv.Itoa(n) + " services"
}

// coverageClaim judges the coverage of source by every node-level case
// with a coverage block against sidecar's at its point: it holds when the
// datapath took all of the source's requests and sidecar none.
func coverageClaim(ordered []*Case, cl claim, source string) []claimRow {
	if !slices.ContainsFunc(ordered, func(c *Case) bool { return c.Coverage != nil }) {
		return []claimRow{{claim: cl, verdict: NotMeasurable, reason: "the run has no unmeshed sources (topology.unmeshed), which the claims and coverage scenarios add"}}
	}
	return pointClaim(ordered, cl, nodeLevel, func(c, ref *Case) (string, string, string, string) {
		mine, why := sourceCoverage(c, source)
		if why != "" {
			return "", "", "", "the " + why
		}
		theirs, why := sourceCoverage(ref, source)
		if why != "" {
			return "", "", "", "sidecar's " + why
		}
		verdict := DoesNotHold
		if *mine.Through == mine.Sent && *theirs.Through == 0 {
			verdict = Holds
		}
		return coverageText(mine), coverageText(theirs), verdict, ""
	})
}

// sourceCoverage is c's counted coverage of source, or why there is none.
func sourceCoverage(c *Case, source string) (SourceCoverage, string) {
	switch {
	case c.Coverage == nil:
		return SourceCoverage{}, "case has no coverage block"
	case !c.Coverage.Counted:
		return SourceCoverage{}, "datapath does not count coverage: " + c.Coverage.Reason
	}
	i := slices.IndexFunc(c.Coverage.Sources, func(s SourceCoverage) bool { return s.Source == source })
	switch {
	case i < 0:
		return SourceCoverage{}, "case has no " + source + " source (topology.unmeshed.sources)"
	case c.Coverage.Sources[i].Through == nil || c.Coverage.Sources[i].Sent == 0:
		return SourceCoverage{}, "case counted no request of its " + source + " source"
	}
	return c.Coverage.Sources[i], ""
}

// coverageText writes the share of a source's requests the datapath took
// in hand, "100%" (the coverage table has the counts).
func coverageText(s SourceCoverage) string {
	return strconv.FormatFloat(*Share(s.Through, s.Sent)*100, 'f', 0, 64) + "%"
}

// noEnrolment is why the enrolment claim is not measured in a run.
const noEnrolment = "the run has no enrolment cases: add an enrol phase (enrol: {after: 2s}), as the claims scenario has"

// enrolClaim judges every node-level enrolment case against sidecar's at
// its point: it holds when the case restarted no pod, sidecar's did, the
// case's load saw no more errors from the install to its end, and the
// datapath carried at least sidecar's share of the last second.
func enrolClaim(enrolled []*Case) []claimRow {
	if len(enrolled) == 0 {
		return []claimRow{{claim: claimEnrol, verdict: NotMeasurable, reason: noEnrolment}}
	}
	return pointClaim(enrolled, claimEnrol, nodeLevel, func(c, ref *Case) (string, string, string, string) {
		if c.Enrolment == nil || ref.Enrolment == nil {
			return "", "", "", "the case or sidecar's has no enrolment block"
		}
		mine, theirs := c.Enrolment, ref.Enrolment
		verdict := DoesNotHold
		if mine.PodsRestarted == 0 && theirs.PodsRestarted > 0 && enrolErrors(mine) <= enrolErrors(theirs) && finalShare(mine) >= finalShare(theirs) {
			verdict = Holds
		}
		return enrolText(mine), enrolText(theirs), verdict, ""
	})
}

// finalShare is an enrolment's share at the end, 0 where not counted.
func finalShare(e *Enrolment) float64 {
	if e.FinalShare == nil {
		return 0
	}
	return *e.FinalShare
}

// enrolErrors are an enrolment's errors from the install's start to the
// end of the load.
func enrolErrors(e *Enrolment) uint64 { return e.Transition.Errors + e.After.Errors }

// enrolText writes an enrolment's figures: "2 restarts, 17 errors, p99
// 37.3ms, 100% at the end".
func enrolText(e *Enrolment) string {
	errs := enrolErrors(e)
	share := "not counted"
	if e.FinalShare != nil {
		share = strconv.FormatFloat(*e.FinalShare*100, 'f', 0, 64) + "% at the end"
	}
	return fmt.Sprintf("%d %s, %d %s, p99 %s, %s", e.PodsRestarted, plural(uint64(e.PodsRestarted), "restart"), errs, plural(errs, "error"), FormatMicros(e.Transition.P99US), share)
}
