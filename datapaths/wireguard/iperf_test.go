package wireguard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths/none"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/scenarios"
)

// TestIperf3 sends iperf3's bulk TCP from the client pod to the server pod
// of the other node, an independent tool across the same tunnels: it must
// arrive, and the fabric must see it only as WireGuard. The throughput is
// logged (go test -v) to set beside a stream case's.
func TestIperf3(t *testing.T) {
	testutil.Privileged(t)
	iperf := testutil.LookPath(t, "iperf3", "apt-get install -y iperf3")
	ctx := context.Background()
	dp, err := Encrypt(none.Kind).New(scenarios.DatapathOptions{Mode: scenarios.ModeL4, Proxy: scenarios.ProxyOn, Encryption: Name})
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, dp)
	if err := dp.Install(ctx, c); err != nil {
		t.Fatalf("Install: %v", err)
	}
	t.Cleanup(func() { dp.Uninstall(ctx) })
	topo := c.Topology()
	svc, _ := topo.Service("far")
	server, _ := topo.Pod(svc.Pods[0])
	client, _ := topo.Pod("client-0")

	srv := start(t, server, iperf, "-s", "-1", "-p", "5201")
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	var out []byte
	var res struct {
		End struct {
			SumReceived struct {
				Bytes         uint64  `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	for try := 0; ; try++ {
		// iperf3 -J may exit 0 with its error in the report.
		out, err = waitOutput(start(t, client, iperf, "-c", server.IP.String(), "-p", "5201", "-t", "3", "-J"))
		if err == nil {
			res.Error = ""
			err = json.Unmarshal(out, &res)
		}
		if err == nil && res.Error != "" {
			err = errors.New(res.Error)
		}
		if err == nil || try == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the server not listening yet
	}
	if err != nil {
		t.Fatalf("iperf3 client: %v\n%s", err, out)
	}
	got := res.End.SumReceived
	if got.Bytes == 0 {
		t.Fatalf("iperf3 moved no bytes:\n%s", out)
	}
	counts, err := unwrap(dp).Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counts.PlaintextTCP != 0 || counts.WireGuard == 0 {
		t.Errorf("fabric counted %+v during iperf3, want wireguard packets and no plaintext TCP", counts)
	}
	t.Logf("iperf3 across %s wireguard: %s Gbit/s, %d bytes received; fabric %+v",
		unwrap(dp).Encryption().Implementation, strconv.FormatFloat(got.BitsPerSecond/1e9, 'f', 2, 64), got.Bytes, counts)
}

// start starts iperf3 with args in pod's network namespace.
func start(tb testing.TB, pod clusters.Pod, iperf string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(iperf, args...)
	cmd.Stdout, cmd.Stderr = &strings.Builder{}, &strings.Builder{}
	// The child is forked on the thread Do moved into the namespace.
	if err := nsenter.Do(pod.NetNS, cmd.Start); err != nil {
		tb.Fatalf("start iperf3 in pod %s: %v", pod.Name, err)
	}
	return cmd
}

// waitOutput waits for cmd and returns its stdout.
func waitOutput(cmd *exec.Cmd) ([]byte, error) {
	err := cmd.Wait()
	out := cmd.Stdout.(*strings.Builder).String()
	if err != nil {
		return []byte(out), fmt.Errorf("%s: %w: %s", cmd, err, cmd.Stderr)
	}
	return []byte(out), nil
}
