package compare

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// DefaultLimits are the gate's limits where neither the scenario nor the
// command line sets one: the p99 overhead over none may grow by 10%, the
// error rate by 1 percentage point, the proxies per node not at all, and
// the packet path not at all. Hops count only segments that carry data, so
// a stray ACK cannot move them, and the proxies forward each message in
// the one segment it came in, so they are exact on a loaded machine too.
const DefaultLimits = "p99_overhead=10%,errors=1,hops=0,proxies=0"

// Limit is how much one figure may worsen before the gate fails.
type Limit struct {
	Metric string
	// Max is the largest allowed worsening: a fraction of the base value
	// when Relative ("10%" is 0.1), else in the metric's unit ("0").
	Max      float64
	Relative bool
}

func (l Limit) String() string { return l.Metric + "=" + l.Value() }

// Value writes the limit as ParseLimits reads it: "10%", "0.5" or "off".
func (l Limit) Value() string {
	if math.IsInf(l.Max, 1) {
		return "off"
	}
	if l.Relative {
		return strconv.FormatFloat(l.Max*100, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(l.Max, 'f', -1, 64)
}

// Off reports whether the limit switches its metric off: no limit, and a
// figure missing in the candidate is no regression.
func (l Limit) Off() bool { return math.IsInf(l.Max, 1) }

// Limits are the gate's limits by metric name.
type Limits map[string]Limit

// String writes the limits in ParseLimits' syntax, sorted by metric.
func (ls Limits) String() string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		parts = append(parts, ls[name].String())
	}
	return strings.Join(parts, ",")
}

// ParseLimits parses "metric=limit,..." such as "p99_overhead=10%,hops=0".
// A limit ending in % is relative to the base value; a bare number is in
// the metric's unit (µs for latencies, × for overheads, percentage points
// for errors, hops, proxies, bytes for memory, seconds per 1k requests for
// cpu). "off" removes the limit, which matters when merging with Apply.
// The metrics are those Compare reports; see MetricHelp.
func ParseLimits(s string) (Limits, error) {
	m := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("parse gate limits: %q is not metric=limit, e.g. p99_overhead=10%%", part)
		}
		k = strings.TrimSpace(k)
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("parse gate limits: %s is given twice", k)
		}
		m[k] = strings.TrimSpace(v)
	}
	return LimitsFromMap(m)
}

// LimitsFromMap parses limits given as a map, as the scenario file's gate
// section and results.Run.Gate hold them.
func LimitsFromMap(m map[string]string) (Limits, error) {
	ls := Limits{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		l, err := parseLimit(k, m[k])
		if err != nil {
			return nil, fmt.Errorf("parse gate limits: %w", err)
		}
		ls[k] = l
	}
	return ls, nil
}

func parseLimit(metric, value string) (Limit, error) {
	if metricByName(metric) == nil {
		return Limit{}, fmt.Errorf("unknown metric %q; known: %s", metric, strings.Join(metricNames(), ", "))
	}
	if value == "off" {
		return Limit{Metric: metric, Max: math.Inf(1)}, nil
	}
	l := Limit{Metric: metric}
	num := value
	if n, ok := strings.CutSuffix(value, "%"); ok {
		l.Relative, num = true, n
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return Limit{}, fmt.Errorf("%s=%q: want a number ≥ 0, optionally with %%, or off", metric, value)
	}
	if l.Relative {
		v /= 100
	}
	l.Max = v
	return l, nil
}

// Apply returns ls with the limits of over put over it. An "off" limit in
// over is kept, so that Gate knows the metric was switched off rather than
// never limited.
func (ls Limits) Apply(over Limits) Limits {
	out := maps.Clone(ls)
	if out == nil {
		out = Limits{}
	}
	maps.Copy(out, over)
	return out
}

func metricNames() []string {
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = m.name
	}
	return names
}

// MetricHelp describes the metrics limits can name, one per line.
func MetricHelp() string {
	var b strings.Builder
	for _, m := range metrics {
		fmt.Fprintf(&b, "  %-14s %s\n", m.name, m.what)
	}
	return b.String()
}
