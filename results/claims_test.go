package results

import (
	"bytes"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/testutil"
)

// claimCase is a case of datapath at services with proxies per node, each
// costing memMiB, and hops per request.
func claimCase(datapath string, services int, proxies []int, memMiB, hops float64) Case {
	c := tableCase(datapath, "spread", 1000, 100)
	c.ID = datapath + "/" + strings.Repeat("s", services)
	c.Services, c.Mode = services, "l4"
	return withCosts(c, proxies, memMiB, 0.01, hops)
}

// covered gives c a coverage block in which the datapath took through of
// the 100 requests of each of the mislabelled pod and the host process.
func covered(c Case, mislabelled, host uint64) Case {
	all := uint64(100)
	c.Coverage = &Coverage{Counted: true, Sources: []SourceCoverage{
		{Source: SourceMeshed, Sent: 100, Through: &all},
		{Source: SourceMislabelled, Sent: 100, Through: &mislabelled},
		{Source: SourceHost, Sent: 100, Through: &host},
	}}
	return c
}

// claimsRun is a claims run at 1 and 20 services: sidecar's proxies and
// memory grow with the pods; nodeproxy runs one proxy a node, which costs
// more than 1 service's sidecars but grows little; ebpf, attached at the
// node, has the shortest path. Coverage was measured at 1 service.
func claimsRun() []Case {
	ebpf := func(services int, mem float64) Case {
		c := claimCase("ebpf-node", services, []int{1, 1, 1}, mem, 6)
		c.VariantOf, c.Attach = "ebpf", "node"
		return c
	}
	return []Case{
		covered(claimCase("sidecar", 1, []int{3, 1, 1}, 10, 14), 0, 0),
		covered(claimCase("nodeproxy", 1, []int{1, 1, 1}, 40, 10), 100, 0),
		covered(ebpf(1, 8), 100, 100),
		claimCase("sidecar", 20, []int{34, 34, 33}, 10, 14),
		claimCase("nodeproxy", 20, []int{1, 1, 1}, 41, 10),
		ebpf(20, 9),
	}
}

// verdict is one row of a claims table with its reason resolved.
type verdict struct {
	measured, sidecar, verdict, reason string
}

var footnote = regexp.MustCompile(`^` + NotMeasurable + ` \[(\d+)\]$`)

// claimsRows reads tab's rows by "claim/services/datapath" (services ""
// when the point does not vary), with each not-measurable verdict's
// reason from its note.
func claimsRows(t *testing.T, tab *Table) map[string]verdict {
	t.Helper()
	out := map[string]verdict{}
	for _, r := range tab.Rows {
		n := len(r)
		key := r[0] + "/" + strings.Join(r[1:n-4], ",") + "/" + r[n-4]
		v := verdict{measured: r[n-3], sidecar: r[n-2], verdict: r[n-1]}
		if m := footnote.FindStringSubmatch(v.verdict); m != nil {
			v.verdict = NotMeasurable
			i := slices.IndexFunc(tab.Notes, func(s string) bool { return strings.HasPrefix(s, "["+m[1]+"] ") })
			if i < 0 {
				t.Fatalf("row %q: no note [%s] in %q", r, m[1], tab.Notes)
			}
			v.reason = strings.TrimPrefix(tab.Notes[i], "["+m[1]+"] ")
		}
		if _, dup := out[key]; dup {
			t.Fatalf("two rows for %s", key)
		}
		out[key] = v
	}
	return out
}

func TestClaimsTable(t *testing.T) {
	withoutEBPF := slices.DeleteFunc(claimsRun(), func(c Case) bool { return c.VariantOf == "ebpf" })
	sidecarFailed := claimsRun()
	sidecarFailed[3].Status, sidecarFailed[3].Error = "failed", "verify datapath: redirect counter stayed at 0"
	oneCount := slices.DeleteFunc(claimsRun(), func(c Case) bool { return c.Services == 20 })
	for i := range oneCount {
		oneCount[i].Coverage = nil
	}
	const ebpf = "ebpf-node (l4, node attach)"
	tests := []struct {
		name  string
		cases []Case
		want  map[string]verdict
	}{
		{"both service counts", claimsRun(), map[string]verdict{
			"proxies per node/1/nodeproxy (l4)":  {"1 of 3", "3 of 5", Holds, ""},
			"proxies per node/20/nodeproxy (l4)": {"1 of 3", "34 of 101", Holds, ""},
			"proxies per node/20/" + ebpf:        {"1 of 3", "34 of 101", Holds, ""},
			"memory per node/1/nodeproxy (l4)":   {"40.0 MiB", "30.0 MiB", DoesNotHold, ""},
			"memory per node/1/" + ebpf:          {"8.00 MiB", "30.0 MiB", Holds, ""},
			"memory per node/20/nodeproxy (l4)":  {"41.0 MiB", "340 MiB", Holds, ""},
			"memory growth/1→20/nodeproxy (l4)":  {"+1.00 MiB", "+310 MiB", Holds, ""},
			"memory growth/1→20/" + ebpf:         {"+1.00 MiB", "+310 MiB", Holds, ""},
			"hops per request/1/" + ebpf:         {"6", "14", Holds, ""},
			"hops per request/20/" + ebpf:        {"6", "14", Holds, ""},
			"mislabelled pods/1/nodeproxy (l4)":  {"100%", "0%", Holds, ""},
			"mislabelled pods/1/" + ebpf:         {"100%", "0%", Holds, ""},
			"host processes/1/nodeproxy (l4)":    {"0%", "0%", DoesNotHold, ""},
			"host processes/1/" + ebpf:           {"100%", "0%", Holds, ""},
			"host processes/20/nodeproxy (l4)":   {"-", "-", NotMeasurable, "the case has no coverage block."},
			"enrolment/-/-":                      {"-", "-", NotMeasurable, noEnrolment + "."},
			"memory per node/20/" + ebpf:         {"9.00 MiB", "340 MiB", Holds, ""},
			"proxies per node/1/" + ebpf:         {"1 of 3", "3 of 5", Holds, ""},
			"mislabelled pods/20/nodeproxy (l4)": {"-", "-", NotMeasurable, "the case has no coverage block."},
			"mislabelled pods/20/" + ebpf:        {"-", "-", NotMeasurable, "the case has no coverage block."},
			"host processes/20/" + ebpf:          {"-", "-", NotMeasurable, "the case has no coverage block."},
			"hops per request/1/nodeproxy (l4)":  {}, // not judged: the claim is eBPF's
			"memory growth/20/nodeproxy (l4)":    {}, // judged across the service counts only
			"memory per node/20/sidecar (l4)":    {}, // sidecar is what the others are judged against
		}},
		{"no ebpf", withoutEBPF, map[string]verdict{
			"hops per request/-/-":               {"-", "-", NotMeasurable, "the run has no ebpf case."},
			"proxies per node/20/nodeproxy (l4)": {"1 of 3", "34 of 101", Holds, ""},
		}},
		{"sidecar failed at 20 services", sidecarFailed, map[string]verdict{
			"proxies per node/20/nodeproxy (l4)": {"-", "-", NotMeasurable, "no sidecar case at this point finished ok."},
			"memory growth/1→20/nodeproxy (l4)":  {"-", "-", NotMeasurable, "no sidecar case at this point finished ok with per-node costs (20 services)."},
			"proxies per node/1/nodeproxy (l4)":  {"1 of 3", "3 of 5", Holds, ""},
		}},
		{"one service count, no coverage", oneCount, map[string]verdict{
			"memory growth//-":                {"-", "-", NotMeasurable, "the run measured one service count; the claim needs two or more (topology.services)."},
			"mislabelled pods//-":             {"-", "-", NotMeasurable, "the run has no unmeshed sources (topology.unmeshed), which the claims and coverage scenarios add."},
			"proxies per node//" + ebpf:       {"1 of 3", "3 of 5", Holds, ""},
			"memory per node//nodeproxy (l4)": {"40.0 MiB", "30.0 MiB", DoesNotHold, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := ClaimsTable(tt.cases)
			if tab == nil {
				t.Fatal("no claims table")
			}
			rows := claimsRows(t, tab)
			for key, want := range tt.want {
				got, ok := rows[key]
				switch {
				case want == verdict{} && ok:
					t.Errorf("%s: a row %+v, want none", key, got)
				case want != verdict{} && !ok:
					t.Errorf("%s: no row; rows %v", key, rows)
				case ok && got != want:
					t.Errorf("%s = %+v, want %+v", key, got, want)
				}
			}
			// Every claim is stated, and has a row.
			for _, c := range claims {
				if !slices.Contains(tab.Notes, c.name+": "+c.statement) {
					t.Errorf("notes do not state %s", c.name)
				}
				if !slices.ContainsFunc(tab.Rows, func(r []string) bool { return r[0] == c.name }) {
					t.Errorf("no row for %s", c.name)
				}
			}
		})
	}
	if tab := ClaimsTable([]Case{tableCase("none", "same-node", 1000, 50)}); tab != nil {
		t.Errorf("a run of none alone has claims: %v", tab.Rows)
	}
}

// TestClaimsTableTerminal renders the claims of claimsRun for a
// 120-column terminal.
func TestClaimsTableTerminal(t *testing.T) {
	var buf bytes.Buffer
	for _, part := range ClaimsTable(claimsRun()).Fold(120, TerminalPadding) {
		if err := part.WriteTerminal(&buf); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Golden(t, filepath.Join("testdata", "table-claims.golden"), buf.Bytes())
	// The claims scenario's table reads whole, verdicts beside their
	// figures, on a GitHub page.
	if parts := ClaimsTable(claimsRun()).Fold(MarkdownWidth, MarkdownPadding); len(parts) != 1 {
		t.Errorf("the claims table folds into %d parts for Markdown, want it whole", len(parts))
	}
}

// enrolled makes c an enrolment case that restarted restarts pods and
// saw errs errors from the install on, with p99 µs in the transition and
// share of the last second's requests through the datapath.
func enrolled(c Case, restarts int, errs uint64, p99, share float64) Case {
	c.ID += "/enrol"
	c.EnrolAfterS = 2
	c.NodeCosts, c.Path, c.Coverage = nil, nil, nil
	c.Enrolment = &Enrolment{PodsRestarted: restarts, Transition: EnrolWindow{Errors: errs / 2, P99US: p99}, After: EnrolWindow{Errors: errs - errs/2}, FinalShare: &share}
	return c
}

// TestClaimsEnrolment checks the enrolment row: judged on enrolment
// cases only, each node-level one against sidecar's: it holds with no
// restart and no more errors than sidecar's, and the other claims leave
// enrolment cases out.
func TestClaimsEnrolment(t *testing.T) {
	ebpfNode := claimCase("ebpf-node", 1, []int{1, 1, 1}, 8, 6)
	ebpfNode.VariantOf, ebpfNode.Attach = "ebpf", "node"
	run := append(claimsRun(),
		enrolled(claimCase("sidecar", 1, []int{3, 1, 1}, 10, 14), 5, 17, 37300, 1),
		enrolled(claimCase("nodeproxy", 1, []int{1, 1, 1}, 40, 10), 0, 0, 900, 1),
		enrolled(claimCase("ebpf", 1, []int{1, 1, 1}, 8, 6), 0, 30, 4_880_000, 1),
		enrolled(ebpfNode, 0, 0, 800, 0.25),
	)
	rows := claimsRows(t, ClaimsTable(run))
	side := "5 restarts, 17 errors, p99 37.3ms, 100% at the end"
	for key, want := range map[string]verdict{
		"enrolment/1,enrol at 2.00s/nodeproxy (l4)": {"0 restarts, 0 errors, p99 900µs, 100% at the end", side, Holds, ""},
		"enrolment/1,enrol at 2.00s/ebpf (l4)":      {"0 restarts, 30 errors, p99 4.88s, 100% at the end", side, DoesNotHold, ""},
		// Connections opened before the install kept their path around it.
		"enrolment/1,enrol at 2.00s/ebpf-node (l4, node attach)": {"0 restarts, 0 errors, p99 800µs, 25% at the end", side, DoesNotHold, ""},
		// Steady claims are judged on steady cases alone, as before.
		"proxies per node/1,steady/nodeproxy (l4)": {"1 of 3", "3 of 5", Holds, ""},
	} {
		if got, ok := rows[key]; !ok || got != want {
			t.Errorf("%s = %+v, want %+v", key, got, want)
		}
	}
	for key := range rows {
		if strings.HasPrefix(key, "enrolment/") && !strings.HasPrefix(key, "enrolment/1,enrol at 2.00s/") {
			t.Errorf("unexpected enrolment row %s", key)
		}
		if strings.Contains(key, "/ebpf (l4)") && !strings.HasPrefix(key, "enrolment/") {
			t.Errorf("the enrolment-only ebpf case has a steady claim row %s", key)
		}
	}
}
