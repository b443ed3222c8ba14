package results

// The table's formatting, exported so that every report (terminal,
// Markdown, HTML, compare) writes figures the same way.

// FormatMicros writes a latency given in µs with 3 significant digits in
// the largest unit that keeps it at least 1: "42.5µs", "1.27ms", "2.99s".
func FormatMicros(us float64) string { return formatMicros(us) }

// FormatMemory writes a byte count in binary units: "96.6 MiB".
func FormatMemory(b float64) string { return formatMemory(b) }

// FormatSeconds writes a duration given in seconds in human units.
func FormatSeconds(s float64) string { return formatSeconds(s) }

// FormatBytes writes a payload size: "0B", "16KiB".
func FormatBytes(n int) string { return formatBytes(n) }

// FormatNumber writes a count or ratio with at most two decimals.
func FormatNumber(v float64) string { return formatNumber(v) }

// DatapathLabel names a case's datapath with its proxy mode and mTLS:
// "sidecar (l7, mtls)".
func DatapathLabel(c *Case) string { return datapathLabel(c) }

// BusiestNode returns a column function writing the largest per-node figure
// f of a case, "-" for a case without per-node figures.
func BusiestNode(f func(NodeCost) float64, format func(float64) string) func(c *Case) string {
	return busiestNode(f, format)
}
