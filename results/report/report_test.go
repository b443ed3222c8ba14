package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/resultstest"
)

// testRuns are the runs the golden files cover.
func testRuns(tb testing.TB) map[string]*results.Run {
	tb.Helper()
	quick := resultstest.Run(tb, resultstest.Options{})

	rates := resultstest.Run(tb, resultstest.Options{
		Datapaths: []string{"none", "sidecar", "ebpf"}, Placements: []string{"cross-node"},
		Rates: []float64{500, 2000}, Repetitions: 6,
	})
	// A failed case, a case without node costs or path probe.
	failed := &rates.Cases[2]
	failed.Status, failed.Error = "failed", "verify datapath: redirect counter stayed at 0"
	failed.Repetitions, failed.NodeCosts, failed.Path = nil, nil, nil
	rates.Cases[1].NodeCosts, rates.Cases[1].Path = nil, nil

	single := resultstest.Run(tb, resultstest.Options{Datapaths: []string{"none"}, Placements: []string{"same-node"}, Repetitions: 1})
	single.Gate = nil

	empty := resultstest.Run(tb, resultstest.Options{})
	empty.Cases = []results.Case{}
	return map[string]*results.Run{"quick": quick, "rates": rates, "single": single, "empty": empty}
}

// TestWriteTerminal renders every run for a 120-column terminal, whose
// every line must fit it, and with --wide, whose tables are whole.
func TestWriteTerminal(t *testing.T) {
	for name, run := range testRuns(t) {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTerminalWith(&buf, run, TerminalOptions{Width: 120}); err != nil {
				t.Fatalf("WriteTerminal: %v", err)
			}
			testutil.Golden(t, filepath.Join("testdata", "terminal-"+name+".golden"), buf.Bytes())
			for i, line := range strings.Split(buf.String(), "\n") {
				if n := utf8.RuneCountInString(line); n > 120 {
					t.Errorf("line %d is %d columns wide, more than the terminal's 120: %s", i+1, n, line)
				}
			}
			var wide bytes.Buffer
			if err := WriteTerminalWith(&wide, run, TerminalOptions{Width: 120, Wide: true}); err != nil {
				t.Fatalf("WriteTerminal --wide: %v", err)
			}
			testutil.Golden(t, filepath.Join("testdata", "terminal-"+name+"-wide.golden"), wide.Bytes())
			if got, want := strings.Count(wide.String(), "┌"), len(newViewT(t, run).tables()); got != want {
				t.Errorf("--wide printed %d tables, want %d, each whole", got, want)
			}
		})
	}
}

func newViewT(tb testing.TB, run *results.Run) *view {
	tb.Helper()
	v, err := newView("", run, false)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// chartLink matches report.md's chart references.
var chartLink = regexp.MustCompile(`\]\((charts/[^)]+\.png)\)`)

func TestWriteMarkdown(t *testing.T) {
	for name, run := range testRuns(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteMarkdown(dir, run); err != nil {
				t.Fatalf("WriteMarkdown: %v", err)
			}
			md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", "report-"+name+".md.golden"), md)
			for _, w := range markdownTableWidths(md) {
				if w > results.MarkdownWidth {
					t.Errorf("a table of report.md is %d characters wide, more than a GitHub page's %d", w, results.MarkdownWidth)
				}
			}
			// Every chart report.md shows exists and is a PNG.
			for _, m := range chartLink.FindAllSubmatch(md, -1) {
				png, err := os.ReadFile(filepath.Join(dir, string(m[1])))
				if err != nil {
					t.Errorf("chart %s: %v", m[1], err)
					continue
				}
				if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
					t.Errorf("chart %s is not a PNG image (%d bytes)", m[1], len(png))
				}
			}
		})
	}
}

// markdownTableWidths returns the width of every table in md, as Fold
// counts it: each column's widest cell plus its padding, one more for
// the border.
func markdownTableWidths(md []byte) []int {
	var out []int
	var cols []int
	flush := func() {
		if cols != nil {
			w := 1
			for _, c := range cols {
				w += c + results.MarkdownPadding
			}
			out = append(out, w)
		}
		cols = nil
	}
	for _, line := range strings.Split(string(md), "\n") {
		if !strings.HasPrefix(line, "|") {
			flush()
			continue
		}
		cells := regexp.MustCompile(`[^\\]\|`).Split(strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |"), -1)
		if strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "|--") {
			continue
		}
		for i, c := range cells {
			if i >= len(cols) {
				cols = append(cols, 0)
			}
			cols[i] = max(cols[i], utf8.RuneCountInString(strings.TrimSpace(c)))
		}
	}
	flush()
	return out
}

func TestWriteAll(t *testing.T) {
	run := testRuns(t)["rates"]
	before, err := clone(run)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteAll(dir, run); err != nil {
		t.Fatalf("WriteAll: %v", err)
	}
	if !reflect.DeepEqual(run, before) {
		t.Errorf("WriteAll modified the run")
	}
	for _, f := range []string{MarkdownFile, HTMLFile, "charts/point-1-latency.png", "charts/rate-1.png"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	// Writing again replaces the files and leaves no temporary ones.
	if err := WriteAll(dir, run); err != nil {
		t.Fatalf("second WriteAll: %v", err)
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if err := WriteAll(filepath.Join(dir, "missing"), run); err == nil {
		t.Errorf("WriteAll into a missing directory succeeded")
	}
}

// clone deep-copies a run through its JSON form.
func clone(run *results.Run) (*results.Run, error) {
	dir, err := os.MkdirTemp("", "report-clone")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := results.Write(dir, run); err != nil {
		return nil, err
	}
	c, err := results.Read(dir)
	if err != nil {
		return nil, err
	}
	c.SchemaVersion = run.SchemaVersion
	return c, nil
}

func TestHTMLSelfContained(t *testing.T) {
	dir := t.TempDir()
	run := testRuns(t)["quick"]
	// Text from the run must be escaped, not interpreted.
	run.Cases[1].Path.Trace[0] = `pod <script>alert(1)</script> - socket_send 90B`
	run.Environment.Hostname = `<img src="http://example.com/x.png">`
	if err := WriteHTML(dir, run); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	page, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, bad := range []string{"<script", "<img", "<link", "@import", "url(http", `src="http`, `href="http`} {
		if strings.Contains(s, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	// The only URLs are XML namespace names, which are never fetched.
	for _, u := range regexp.MustCompile(`https?://[^"'\s<>&]+`).FindAllString(s, -1) {
		if u != "http://www.w3.org/2000/svg" && u != "http://www.w3.org/1999/xlink" && u != "http://example.com/x.png" {
			t.Errorf("report.html refers to %s", u)
		}
	}
	if !strings.Contains(s, "&lt;script&gt;") {
		t.Errorf("the trace's text is not escaped")
	}
}

func TestParseTrace(t *testing.T) {
	got := parseTrace([]string{
		"pod client-0           eth0     transmit     140B",
		"node node1             -        route_lookup 0B",
		"pod a-very-long-pod-name-beyond-the-column veth9 receive 1500B",
		"garbage",
	})
	want := []traceEvent{
		{where: "pod client-0", device: "eth0", event: "transmit", size: "140B"},
		{where: "node node1", device: "-", event: "route_lookup", size: "0B"},
		{where: "pod a-very-long-pod-name-beyond-the-column", device: "veth9", event: "receive", size: "1500B"},
		{where: "?", event: "garbage"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseTrace = %+v, want %+v", got, want)
	}
	if got := want[1].label(); got != "route_lookup" {
		t.Errorf("label = %q, want route_lookup", got)
	}
}

func TestPartialBanner(t *testing.T) {
	run, err := clone(testRuns(t)["rates"])
	if err != nil {
		t.Fatal(err)
	}
	run.Partial, run.Interrupted, run.PlannedCases = true, true, len(run.Cases)+2
	want := fmt.Sprintf("partial: %d of %d cases (interrupted)", len(run.Cases), len(run.Cases)+2)
	var term bytes.Buffer
	if err := WriteTerminal(&term, run); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteAll(dir, run); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	html, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	for name, got := range map[string][]byte{"terminal": term.Bytes(), "markdown": md, "html": html} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("%s report lacks %q", name, want)
		}
	}
}

// TestMarkdownEscaped checks that text from the run (scenario, datapath,
// errors, environment) reaches report.md as text, not as Markdown or HTML.
func TestMarkdownEscaped(t *testing.T) {
	run, err := clone(testRuns(t)["rates"])
	if err != nil {
		t.Fatal(err)
	}
	run.Scenario = `<script>alert(1)</script>`
	run.ID = "r1`<b>x</b>`"
	run.Cases[0].Datapath = `<img src=x onerror=alert(1)>`
	run.Cases[2].Error = `</details><script>alert(2)</script> *bold* [link](http://example.com)`
	run.Environment.Hostname = `<iframe>`
	dir := t.TempDir()
	if err := WriteMarkdown(dir, run); err != nil {
		t.Fatalf("WriteMarkdown: %v", err)
	}
	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<img", "<iframe", "</details", "<b>"} {
		if bytes.Contains(md, []byte(bad)) {
			t.Errorf("report.md contains %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;", `\*bold\*`, `\[link\](http`} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks the escaped text %q", want)
		}
	}
}

func TestCausalOrder(t *testing.T) {
	tests := []struct {
		name        string
		trace, want []string
	}{{
		// none, cross-node, as the probe recorded it: each socket_send
		// after the packets its data became.
		name: "none",
		trace: []string{
			"pod client-0 eth0 transmit 182B",
			"node n0 veth0 receive 168B",
			"fabric veth-n0 receive 168B",
			"pod svc-000-0 eth0 receive 168B",
			"pod client-0 - socket_send 116B",
			"pod svc-000-0 - socket_recv 116B",
			"pod svc-000-0 eth0 transmit 1208B",
			"pod client-0 eth0 receive 1194B",
			"pod svc-000-0 - socket_send 1142B",
			"pod client-0 - socket_recv 1142B",
		},
		want: []string{
			"pod client-0 socket_send",
			"pod client-0 transmit",
			"node n0 receive",
			"fabric receive",
			"pod svc-000-0 receive",
			"pod svc-000-0 socket_recv",
			"pod svc-000-0 socket_send",
			"pod svc-000-0 transmit",
			"pod client-0 receive",
			"pod client-0 socket_recv",
		},
	}, {
		// sidecar, same-node: the app and its sidecar share the pod's
		// namespace and talk over loopback.
		name: "sidecar",
		trace: []string{
			"pod client-0 lo route_lookup 0B",
			"pod client-0 lo transmit 182B",
			"pod client-0 lo receive 168B",
			"pod client-0 - socket_send 116B", // app to sidecar
			"pod client-0 eth0 transmit 182B",
			"node n0 veth1 transmit 182B",
			"pod svc-000-0 eth0 receive 168B",
			"pod client-0 - socket_send 116B", // sidecar out
			"pod svc-000-0 lo transmit 1208B",
			"pod svc-000-0 lo receive 1194B",
			"pod svc-000-0 - socket_send 1142B", // server's sidecar to app
			"pod client-0 eth0 receive 1194B",
			"pod client-0 lo transmit 1208B",
			"pod client-0 lo receive 1194B",
			"pod client-0 - socket_send 1142B", // sidecar to app
			"pod client-0 - socket_recv 1142B",
		},
		want: []string{
			"pod client-0 socket_send",
			"pod client-0 route_lookup",
			"pod client-0 transmit",
			"pod client-0 receive",
			"pod client-0 socket_send",
			"pod client-0 transmit",
			"node n0 transmit",
			"pod svc-000-0 receive",
			"pod svc-000-0 socket_send",
			"pod svc-000-0 transmit",
			"pod svc-000-0 receive",
			"pod client-0 receive",
			"pod client-0 socket_send",
			"pod client-0 transmit",
			"pod client-0 receive",
			"pod client-0 socket_recv",
		},
	}}
	for _, tt := range tests {
		var got []string
		for _, e := range causalOrder(parseTrace(tt.trace)) {
			got = append(got, e.where+" "+e.event)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: causalOrder =\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

// TestHTMLFailedRow checks that report.html sets the failed case's rows
// apart, in every part of the folded latency table, and only its.
func TestHTMLFailedRow(t *testing.T) {
	dir := t.TempDir()
	if err := WriteHTML(dir, testRuns(t)["rates"]); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`<tr class="failed">.*</tr>`).FindAllString(string(page), -1)
	if len(rows) == 0 {
		t.Fatalf("report.html marks no row as failed")
	}
	for _, r := range rows {
		if !strings.Contains(r, "ebpf (l4)") || !strings.Contains(r, "failed [1]") {
			t.Errorf("a row marked failed is not the failed case's: %s", r)
		}
	}
}

// TestPathDiagramLanes checks that a sidecar's events run in a lane apart
// from its application's and from the kernel's in the same namespace, and
// that records from before steps existed still get a lane per namespace.
func TestPathDiagramLanes(t *testing.T) {
	lanes := func(svg string) []string {
		var out []string
		re := regexp.MustCompile(`<rect class="lane"[^>]*fill="([^"]*)"[^>]*/><text[^>]*>([^<]*)</text>(?:<text class="actor"[^>]*>([^<]*)</text>)?`)
		for _, m := range re.FindAllStringSubmatch(svg, -1) {
			out = append(out, strings.Join(strings.Fields(m[2]+" "+m[3]+" "+m[1]), " "))
		}
		return out
	}
	p := &results.Path{Steps: []results.PathStep{
		{Namespace: "pod client-0", Event: "socket_send", Bytes: 116, Actor: results.AppActor},
		{Namespace: "pod client-0", Device: "lo", Event: "transmit", Bytes: 182, Actor: results.AppActor},
		{Namespace: "pod client-0", Device: "lo", Event: "receive", Bytes: 168, Actor: results.KernelActor},
		{Namespace: "pod client-0", Event: "socket_recv", Bytes: 116, Actor: "sidecar"},
		{Namespace: "pod client-0", Event: "socket_send", Bytes: 116, Actor: "sidecar"},
		{Namespace: "pod client-0", Device: "eth0", Event: "transmit", Bytes: 182, Actor: "sidecar"},
		{Namespace: "node n0", Device: "veth1", Event: "receive", Bytes: 168, Actor: results.KernelActor},
	}}
	want := []string{
		"pod client-0 app #ffffff",
		"pod client-0 kernel #e6e6e6",
		"pod client-0 sidecar #ffe9b3",
		"node n0 kernel #e6e6e6",
	}
	svg := pathDiagram("d", "sidecar", p)
	if got := lanes(svg); !reflect.DeepEqual(got, want) {
		t.Errorf("lanes = %q, want %q", got, want)
	}
	if !strings.Contains(svg, "lane: a datapath process (proxy)") {
		t.Error("the diagram has no legend for the lanes")
	}

	// A pod's lanes stand together even when one of its actors first acts
	// after another namespace's.
	later := &results.Path{Steps: []results.PathStep{
		{Namespace: "pod client-0", Event: "socket_send", Actor: results.AppActor},
		{Namespace: "node n0", Device: "veth1", Event: "receive", Actor: results.KernelActor},
		{Namespace: "pod client-0", Event: "socket_recv", Actor: "sidecar"},
	}}
	if got, want := lanes(pathDiagram("d", "later", later)), []string{"pod client-0 app #ffffff", "pod client-0 sidecar #ffe9b3", "node n0 kernel #e6e6e6"}; !reflect.DeepEqual(got, want) {
		t.Errorf("lanes = %q, want %q", got, want)
	}

	legacy := &results.Path{Trace: []string{
		"pod client-0 - socket_send 116B",
		"pod client-0 eth0 transmit 182B",
		"node n0 veth1 receive 168B",
	}}
	svg = pathDiagram("d", "none", legacy)
	if got, want := lanes(svg), []string{"pod client-0 #f4f4f4", "node n0 #f4f4f4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("lanes of a record without steps = %q, want %q", got, want)
	}
	if strings.Contains(svg, "lane: ") {
		t.Error("a record without actors has a legend for lanes it cannot tell apart")
	}
}
