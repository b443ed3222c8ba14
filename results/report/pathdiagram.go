package report

import (
	"fmt"
	"html"
	"slices"
	"strings"

	"github.com/meshbench/meshbench/results"
)

// traceEvent is one event of a traced request: where it happened (the
// namespace, possibly with spaces: "pod client-0"), on which device, what,
// how many bytes ("140B"), and who caused it (results.PathStep.Actor; empty
// in records from before the probe said).
type traceEvent struct {
	where, device, event, size, actor string
}

// traceEvents returns the events of a case's traced request: its steps,
// or, in records written before steps existed, its trace lines.
func traceEvents(p *results.Path) []traceEvent {
	if len(p.Steps) == 0 {
		return parseTrace(p.Trace)
	}
	out := make([]traceEvent, 0, len(p.Steps))
	for _, s := range p.Steps {
		out = append(out, traceEvent{where: s.Namespace, device: s.Device, event: s.Event, size: fmt.Sprintf("%dB", s.Bytes), actor: s.Actor})
	}
	return out
}

// parseTrace splits trace lines of records without steps
// ("<namespace> <device> <event> <bytes>B") into events. A line that does
// not have that shape becomes an event of its own lane, shown as written.
func parseTrace(lines []string) []traceEvent {
	out := make([]traceEvent, 0, len(lines))
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasSuffix(f[len(f)-1], "B") {
			out = append(out, traceEvent{where: "?", event: strings.TrimSpace(l)})
			continue
		}
		n := len(f)
		out = append(out, traceEvent{
			where:  strings.Join(f[:n-3], " "),
			device: f[n-3],
			event:  f[n-2],
			size:   f[n-1],
		})
	}
	return out
}

// lane is a path diagram's column: a namespace, and within it who acted.
type lane struct{ where, actor string }

func (e traceEvent) lane() lane { return lane{e.where, e.actor} }

// laneKinds are the kinds of lane a path diagram tells apart by the fill
// of its head, with their legend text: who acted in it.
var laneKinds = []struct {
	color, legend string
	match         func(actor string) bool
}{
	{"#ffffff", "lane: an application", func(a string) bool { return a == results.AppActor }},
	{"#e6e6e6", "lane: the kernel (softirq, kernel thread)", func(a string) bool { return a == results.KernelActor }},
	{"#ffe9b3", "lane: a datapath process (proxy)", func(string) bool { return true }},
}

// laneColor fills a lane's head by who acted in it; lanes of records
// without actors are plain.
func laneColor(actor string) string {
	if actor == "" {
		return "#f4f4f4"
	}
	for _, k := range laneKinds {
		if k.match(actor) {
			return k.color
		}
	}
	return ""
}

// label is what an event's box says: "transmit eth0 140B".
func (e traceEvent) label() string {
	parts := []string{e.event}
	if e.device != "" && e.device != "-" {
		parts = append(parts, e.device)
	}
	if e.size != "" && e.size != "0B" {
		parts = append(parts, e.size)
	}
	return strings.Join(parts, " ")
}

// causalOrder returns events in the order the request's bytes travel.
// The kernel records socket_send when send() returns, after the device
// events that its data caused, so that in time order a sender's send looks
// like the reply to its own packet. Each socket_send moves back to before
// the nearest earlier transmit of its namespace and the route lookups
// just before that, unless a socket event of the namespace comes first.
func causalOrder(events []traceEvent) []traceEvent {
	out := slices.Clone(events)
	for i := range out {
		if out[i].event != "socket_send" {
			continue
		}
		to := i
		for j := i - 1; j >= 0; j-- {
			e := out[j]
			if e.where != out[i].where {
				continue
			}
			if e.event == "transmit" {
				to = j
			}
			if e.event == "transmit" || strings.HasPrefix(e.event, "socket") {
				break
			}
		}
		for j := to - 1; j >= 0 && to < i; j-- {
			if e := out[j]; e.where == out[i].where {
				if e.event != "route_lookup" {
					break
				}
				to = j
			}
		}
		if to < i {
			send := out[i]
			copy(out[to+1:i+1], out[to:i])
			out[to] = send
		}
	}
	return out
}

// eventKinds are the kinds of event a path diagram tells apart by colour,
// with their legend text.
var eventKinds = []struct {
	color, legend string
	match         func(event string) bool
}{
	{"#d8f0e4", "socket send/receive", func(e string) bool { return strings.HasPrefix(e, "socket") }},
	{"#dce9f7", "device transmit/receive", func(e string) bool { return e == "transmit" || e == "receive" }},
	{"#eeeeee", "route lookup", func(e string) bool { return e == "route_lookup" }},
	{"#fbe7d3", "other", func(string) bool { return true }},
}

// eventColor fills an event's box by its kind.
func eventColor(event string) string {
	for _, k := range eventKinds {
		if k.match(event) {
			return k.color
		}
	}
	return ""
}

// Path diagram geometry, in pixels.
const (
	laneWidth    = 152
	boxWidth     = 140
	boxHeight    = 18
	rowHeight    = 30
	headHeight   = 30
	margin       = 10
	titleHeight  = 22
	legendHeight = 24
	maxLabel     = 24
)

// legendEntryWidth is how wide a legend entry with text is drawn: its
// swatch, the text at about 6 px a character, and a gap.
func legendEntryWidth(text string) int { return 18 + 6*len([]rune(text)) + 16 }

// laneOrder lists the lanes of events: namespaces in order of first
// crossing, and within each its actors in order of first event, so that a
// pod's app, kernel and sidecar lanes stand together.
func laneOrder(events []traceEvent) []lane {
	var wheres []string
	byWhere := map[string][]lane{}
	for _, e := range events {
		if !slices.Contains(wheres, e.where) {
			wheres = append(wheres, e.where)
		}
		if !slices.Contains(byWhere[e.where], e.lane()) {
			byWhere[e.where] = append(byWhere[e.where], e.lane())
		}
	}
	var out []lane
	for _, w := range wheres {
		out = append(out, byWhere[w]...)
	}
	return out
}

// pathDiagram draws a traced request as an SVG sequence diagram with the
// element id id: its title on top, a legend of the boxes' colours (and of
// the lanes' when the record says who acted), a lane per network namespace
// and actor in order of first crossing, so that a sidecar or node proxy
// runs in a lane apart from the application and from the kernel's softirq
// work, a box per event in causal order (causalOrder), and arrows from
// each event to the next.
func pathDiagram(id, title string, p *results.Path) string {
	events := causalOrder(traceEvents(p))
	lanes := laneOrder(events)
	actors := slices.ContainsFunc(events, func(e traceEvent) bool { return e.actor != "" })
	legendRows := 1
	if actors {
		legendRows = 2
	}
	head := headHeight
	if actors {
		head += 14
	}
	lanesTop := margin + titleHeight + legendRows*legendHeight
	firstRow := lanesTop + head + 20
	legendEnd := func(texts []string) int {
		end := margin
		for _, t := range texts {
			end += legendEntryWidth(t)
		}
		return end
	}
	var boxLegend, laneLegend []string
	for _, k := range eventKinds {
		boxLegend = append(boxLegend, k.legend)
	}
	for _, k := range laneKinds {
		laneLegend = append(laneLegend, k.legend)
	}
	width := max(2*margin+len(lanes)*laneWidth, legendEnd(boxLegend))
	if actors {
		width = max(width, legendEnd(laneLegend))
	}
	height := firstRow + len(events)*rowHeight + margin
	center := func(l lane) int { return margin + slices.Index(lanes, l)*laneWidth + laneWidth/2 }
	esc := html.EscapeString
	short := func(s string) string {
		if r := []rune(s); len(r) > maxLabel {
			return string(r[:maxLabel-1]) + "…"
		}
		return s
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" class="chart path-diagram" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		esc(id), width, height, width, height, esc(title))
	arrow := esc(id) + "-arrow"
	fmt.Fprintf(&b, `<defs><marker id="%s" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>`, arrow)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(title))
	fmt.Fprintf(&b, `<text class="title" x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`, margin, margin+14, esc(title))
	legend := func(row int, colors, texts []string) {
		x, y := margin, margin+titleHeight+row*legendHeight
		for i, text := range texts {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="12" rx="2" fill="%s" stroke="#666"/>`, x, y, colors[i])
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">%s</text>`, x+18, y+10, esc(text))
			x += legendEntryWidth(text)
		}
	}
	var boxColors, laneColors []string
	for _, k := range eventKinds {
		boxColors = append(boxColors, k.color)
	}
	for _, k := range laneKinds {
		laneColors = append(laneColors, k.color)
	}
	legend(0, boxColors, boxLegend)
	if actors {
		legend(1, laneColors, laneLegend)
	}
	for _, l := range lanes {
		x := center(l)
		fmt.Fprintf(&b, `<rect class="lane" x="%d" y="%d" width="%d" height="%d" rx="4" fill="%s" stroke="#888"/>`, x-boxWidth/2, lanesTop, boxWidth, head, laneColor(l.actor))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="13" font-weight="bold">%s</text>`, x, lanesTop+headHeight/2+5, esc(short(l.where)))
		if l.actor != "" {
			fmt.Fprintf(&b, `<text class="actor" x="%d" y="%d" text-anchor="middle" font-size="11">%s</text>`, x, lanesTop+headHeight/2+19, esc(short(l.actor)))
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#bbb" stroke-dasharray="4 4"/>`, x, lanesTop+head, x, height-margin)
	}
	for i, e := range events {
		x, y := center(e.lane()), firstRow+i*rowHeight
		if i > 0 {
			px, py := center(events[i-1].lane()), firstRow+(i-1)*rowHeight+boxHeight
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444" stroke-width="1.2" marker-end="url(#%s)"/>`, px, py, x, y, arrow)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="%s" stroke="#666"/>`, x-boxWidth/2, y, boxWidth, boxHeight, eventColor(e.event))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="11">%d. %s</text>`, x, y+boxHeight-5, i+1, esc(short(e.label())))
	}
	b.WriteString(`</svg>`)
	return b.String()
}
