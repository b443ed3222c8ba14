package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/sidecar"
	"github.com/meshbench/meshbench/scenarios"
)

// keyMarkers are what a PEM private key looks like in a process's argv or
// environment: as text, or base64 of a file that starts with it (the last
// characters of the encoding depend on what follows, so they are dropped).
var keyMarkers = [][]byte{
	[]byte("PRIVATE KEY"),
	[]byte(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("-----BEGIN")), "=")[:12]),
}

// TestMTLSKeysStayOffCommandLines scans, while mTLS cases run, the argv and
// environment of every agent of the run (which any local user can read in
// /proc) for private key material.
func TestMTLSKeysStayOffCommandLines(t *testing.T) {
	mtls := scenarios.DatapathOptions{Mode: "l4", MTLS: true}
	cases := []scenarios.Case{
		testCase(sidecar.Name, scenarios.CrossNode, mtls, 1),
		testCase(nodeproxy.Name, scenarios.CrossNode, mtls, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var proxies int
	var leaks []string
	wg.Go(func() {
		seen := map[string]bool{}
		for ctx.Err() == nil {
			procs, _ := filepath.Glob("/proc/[0-9]*")
			for _, p := range procs {
				env, err := os.ReadFile(filepath.Join(p, "environ"))
				if err != nil || !bytes.Contains(env, []byte(netns.RunIDEnv+"=")) {
					continue
				}
				cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
				if err != nil {
					continue
				}
				if bytes.Contains(cmdline, []byte("\x00proxy\x00")) && !seen[p] {
					seen[p] = true
					proxies++
				}
				for _, m := range keyMarkers {
					if bytes.Contains(cmdline, m) || bytes.Contains(env, m) {
						leaks = append(leaks, p+": "+strings.ReplaceAll(string(cmdline[:min(len(cmdline), 120)]), "\x00", " "))
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	got := runCases(t, cases...)
	cancel()
	wg.Wait()
	for _, c := range got {
		if c.Status != "ok" {
			t.Errorf("%s: %s: %s", c.ID, c.Status, c.Error)
		}
	}
	// Sidecar: client and server sidecars; nodeproxy: two node proxies.
	if proxies < 4 {
		t.Errorf("saw %d proxy processes, want at least 4: the scan did not cover the run", proxies)
	}
	for _, l := range leaks {
		t.Errorf("key material in argv or environment of %s", l)
	}
}
