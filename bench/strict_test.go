package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/sidecar"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/scenarios"
)

// TestStrictMTLSRefusesPlaintext sends plain HTTP to the server pod's
// application port from every node's namespace while a cross-node case is
// installed: with mTLS each must be refused (connection refused or reset),
// without mTLS (the control) each must get its 200; meshed load gets its
// 200s either way.
func TestStrictMTLSRefusesPlaintext(t *testing.T) {
	testutil.Privileged(t)
	for _, mtls := range []bool{true, false} {
		for _, dp := range []string{sidecar.Name, nodeproxy.Name, ebpf.Name} {
			c := testCase(dp, scenarios.CrossNode, scenarios.DatapathOptions{Mode: "l4", MTLS: mtls}, 1)
			t.Run(c.ID, func(t *testing.T) {
				r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: clusters.NewRunID()})
				cr := &caseRun{c: c}
				ctx := context.Background()
				defer r.teardown(ctx, cr)
				if err := r.setup(ctx, cr); err != nil {
					t.Fatal(err)
				}
				topo := cr.cluster.Topology()
				svc, _ := topo.Service("svc-000")
				server, _ := topo.Pod(svc.Pods[0])
				dst := netip.AddrPortFrom(server.IP, uint16(svc.TargetPort))
				for _, n := range topo.Nodes {
					status, err := plainGet(n.NetNS, dst)
					refused := errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
					if mtls && !refused || !mtls && err != nil {
						t.Errorf("plain HTTP from node %s to %s: got %q, %v; want refused %v", n.Name, dst, status, err, mtls)
					}
				}
				samples, _, err := r.attack(ctx, cr, "measure", 500*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range samples {
					if s.Code != 200 {
						t.Fatalf("meshed request %d got status %d, want 200", s.Seq, s.Code)
					}
				}
			})
		}
	}
}

// plainGet sends one plaintext HTTP request to dst from the network
// namespace ns and returns the response's status line.
func plainGet(ns string, dst netip.AddrPort) (string, error) {
	var status string
	err := nsenter.Do(ns, func() error {
		c, err := net.DialTimeout("tcp4", dst.String(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", dst); err != nil {
			return err
		}
		status, err = bufio.NewReader(c).ReadString('\n')
		if err == nil && !strings.HasPrefix(status, "HTTP/1.1 200") {
			err = fmt.Errorf("status %q", strings.TrimSpace(status))
		}
		return err
	})
	return strings.TrimSpace(status), err
}
