package results

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The tables' formatting, exported so that every report (terminal,
// Markdown, HTML, compare) writes figures the same way.

// DatapathLabel names a case's datapath with its proxy mode, mTLS and
// waypoint and encryption between nodes: "sidecar (l7, mtls)", "none
// (wireguard userspace)", "nodeproxy (l4, mtls, waypoint on server-node)",
// or "sidecar (l4 for l7, mtls)" when the proxy ran at l4 because l7 does
// not speak the case's protocol.
func DatapathLabel(c *Case) string {
	var opts []string
	switch {
	case c.Proxy == "off":
		opts = append(opts, "proxy off")
	case c.L7Fallback:
		opts = append(opts, c.Mode+" for l7")
	case c.Mode != "":
		opts = append(opts, c.Mode)
	}
	if c.MTLS {
		opts = append(opts, "mtls")
	}
	if c.Waypoint != "" {
		opts = append(opts, "waypoint on "+c.Waypoint)
	}
	if c.Encryption != "" {
		opts = append(opts, strings.TrimSpace(c.Encryption+" "+c.EncryptionImplementation))
	}
	if c.Attach != "" {
		opts = append(opts, c.Attach+" attach")
	}
	if len(opts) == 0 {
		return c.Datapath
	}
	return fmt.Sprintf("%s (%s)", c.Datapath, strings.Join(opts, ", "))
}

// BusiestNode returns a cell function writing the largest per-node figure
// f of a case, "-" for a case without per-node figures.
func BusiestNode(f func(NodeCost) float64, format func(float64) string) func(c *Case) string {
	return func(c *Case) string {
		m, ok := busiest(c, f)
		if !ok {
			return "-"
		}
		return format(m)
	}
}

// FormatMicros writes a latency given in µs with 3 significant digits in
// the largest unit that keeps it at least 1: "42.5µs", "1.27ms", "2.99s".
func FormatMicros(us float64) string {
	switch {
	case us >= 999.5e3: // rounds to at least 1000ms
		return sig3(us/1e6) + "s"
	case us >= 999.5:
		return sig3(us/1e3) + "ms"
	}
	return sig3(us) + "µs"
}

// FormatSeconds writes a duration given in seconds in human units.
func FormatSeconds(s float64) string { return FormatMicros(s * 1e6) }

// binaryUnits are the units of FormatMemory and FormatBytes.
var binaryUnits = []string{"B", "KiB", "MiB", "GiB"}

// FormatMemory writes a byte count in binary units, 3 significant digits:
// "96.6 MiB".
func FormatMemory(b float64) string {
	u := 0
	for ; b >= 1023.5 && u < len(binaryUnits)-1; u++ {
		b /= 1024
	}
	return sig3(b) + " " + binaryUnits[u]
}

// FormatBytes writes a payload size: exact when it is a whole number of
// units ("0B", "16KiB"), else to 3 significant digits.
func FormatBytes(n int) string {
	v, u := float64(n), 0
	for ; v >= 1024 && u < len(binaryUnits)-1; u++ {
		v /= 1024
	}
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64) + binaryUnits[u]
	}
	return sig3(v) + binaryUnits[u]
}

// FormatNumber writes a count or ratio with at most two decimals.
func FormatNumber(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// sig3 writes v with 3 significant digits (more for v ≥ 1000).
func sig3(v float64) string {
	switch {
	case v < 9.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 99.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
