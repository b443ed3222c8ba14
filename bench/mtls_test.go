package bench

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/sidecar"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/scenarios"
)

// TestMTLSEncryptsTheFabric captures every frame on the fabric (the network
// between nodes) while traffic flows cross-node: with mTLS no plaintext HTTP
// may cross it; without, it must (the capture's positive control).
func TestMTLSEncryptsTheFabric(t *testing.T) {
	for _, mtls := range []bool{true, false} {
		opts := scenarios.DatapathOptions{Mode: "l7", MTLS: mtls}
		for _, dp := range []string{sidecar.Name, nodeproxy.Name} {
			c := testCase(dp, scenarios.CrossNode, opts, 1)
			t.Run(c.ID, func(t *testing.T) {
				wire := fabricTraffic(t, c)
				plain := bytes.Contains(wire, []byte("HTTP/1.1 200")) || bytes.Contains(wire, []byte("GET / HTTP/1.1"))
				if len(wire) == 0 {
					t.Fatal("captured nothing on the fabric")
				}
				if plain == mtls {
					t.Errorf("mtls %v: plaintext HTTP on the fabric: %v (captured %d bytes)", mtls, plain, len(wire))
				}
			})
		}
	}
	// Either leg of a waypoint crosses the fabric, by where it runs.
	for _, node := range []string{scenarios.WaypointClientNode, scenarios.WaypointServerNode} {
		c := testCase(nodeproxy.Name, scenarios.CrossNode, waypointOptions(node), 1)
		t.Run(c.ID+"-waypoint-"+node, func(t *testing.T) {
			wire := fabricTraffic(t, c)
			if len(wire) == 0 {
				t.Fatal("captured nothing on the fabric")
			}
			if bytes.Contains(wire, []byte("HTTP/1.1 200")) || bytes.Contains(wire, []byte("GET / HTTP/1.1")) || bytes.Contains(wire, []byte("CONNECT ")) {
				t.Errorf("plaintext HTTP or CONNECT on the fabric (captured %d bytes)", len(wire))
			}
		})
	}
}

// fabricTraffic sets up c, sends a second of load and returns the bytes of
// every frame seen in the fabric namespace meanwhile.
func fabricTraffic(tb testing.TB, c scenarios.Case) []byte {
	tb.Helper()
	testutil.Privileged(tb)
	r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: clusters.NewRunID()})
	cr := &caseRun{c: c}
	ctx := context.Background()
	defer r.teardown(ctx, cr)
	if err := r.setup(ctx, cr); err != nil {
		tb.Fatal(err)
	}
	var fd int
	if err := nsenter.Do(cr.cluster.Topology().FabricNetNS, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		tb.Fatal(err)
	}
	var (
		seen []byte
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			select {
			case <-done:
				return
			default:
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err == nil && len(seen) < 8<<20 {
				seen = append(seen, buf[:n]...)
			}
		}
	}()
	_, _, err := r.attack(ctx, cr, "measure", time.Second)
	close(done)
	wg.Wait()
	unix.Close(fd)
	if err != nil {
		tb.Fatal(err)
	}
	return seen
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
