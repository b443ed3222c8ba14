package bench

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/builtin"
	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/sidecar"
	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
	"github.com/meshbench/meshbench/scenarios"
)

// TestVerifyCatchesHalfBypass lets every other new connection around the
// client's proxy, as one nftables rule (numgen inc mod 2) does, and expects
// verify to fail with the shortfall, where it passed while any connection
// at all went through the proxy. The rule's count starts at 0, so the load
// agent's first connection, opened after the rule is in, goes around
// whatever number of connections the warm-up needs.
func TestVerifyCatchesHalfBypass(t *testing.T) {
	testutil.Privileged(t)
	tests := []struct {
		datapath string
		// where is the namespace and hook of the proxy's redirect
		where func(topo *clusters.Topology) (string, nftables.ChainHook)
	}{
		{sidecar.Name, func(topo *clusters.Topology) (string, nftables.ChainHook) {
			pod, _ := topo.Pod("client-0")
			return pod.NetNS, *nftables.ChainHookOutput
		}},
		{nodeproxy.Name, func(topo *clusters.Topology) (string, nftables.ChainHook) {
			pod, _ := topo.Pod("client-0")
			node, _ := topo.Node(pod.Node)
			return node.NetNS, *nftables.ChainHookPrerouting
		}},
	}
	for _, tt := range tests {
		t.Run(tt.datapath, func(t *testing.T) {
			c := testCase(tt.datapath, scenarios.SameNode, scenarios.DatapathOptions{Mode: "l4"}, 1)
			r := New(Options{Provider: netns.New(netns.Options{}), Datapaths: builtin.Datapaths(), RunID: clusters.NewRunID()})
			cr := &caseRun{c: c}
			ctx := context.Background()
			defer r.teardown(ctx, cr)
			if err := r.setup(ctx, cr); err != nil {
				t.Fatal(err)
			}
			ns, hook := tt.where(cr.cluster.Topology())
			bypassHalf(t, ns, hook)
			if _, _, err := r.attack(ctx, cr, "warmup", c.Warmup); err != nil {
				t.Fatal(err)
			}
			err := r.verify(ctx, cr)
			if !errors.Is(err, datapaths.ErrNotInPath) || !strings.Contains(err.Error(), "connections the load agents opened") {
				t.Errorf("verify with every other connection around the proxy = %v, want %v with the counts", err, datapaths.ErrNotInPath)
			}
		})
	}
}

// bypassHalf marks every other new connection in the namespace at ns, at
// hook, with the proxy's own mark before the datapath's redirect sees it,
// so that the redirect lets it pass.
func bypassHalf(tb testing.TB, ns string, hook nftables.ChainHook) {
	tb.Helper()
	err := nsenter.Do(ns, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tab := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "bypass-half"})
		prio := nftables.ChainPriority(-150)
		ch := c.AddChain(&nftables.Chain{Name: "bypass", Table: tab, Type: nftables.ChainTypeNAT, Hooknum: &hook, Priority: &prio})
		c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Numgen{Register: 1, Modulus: 2, Type: unix.NFT_NG_INCREMENTAL},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(proxy.DefaultMark)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		}})
		return c.Flush()
	})
	if err != nil {
		tb.Fatalf("add the bypass rule: %v", err)
	}
}
