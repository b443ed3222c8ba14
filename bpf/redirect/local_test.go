package redirect_test

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/meshbench/meshbench/bpf/redirect"
	"github.com/meshbench/meshbench/internal/bpftest"
)

// TestProxyToLocalPod builds node -- pod namespaces, dials the pod from the
// proxy's cgroup in the node's namespace, and checks that sockops put both
// ends into the sockhash and sk_msg moved every message, but only when the
// pod is one of the node's.
func TestProxyToLocalPod(t *testing.T) {
	const rounds = 20
	var bytes uint64
	for i := range rounds {
		bytes += uint64(len(message(i)))
	}
	redirected := redirect.Counters{
		Sockets:      2,
		LocalSockets: 2,
		Messages:     2 * rounds, // each ping and its echo, one sendmsg each
		Bytes:        2 * bytes,
	}
	tests := []struct {
		name   string
		listen string // the server's listen address
		local  bool
		want   redirect.Counters
	}{
		{"local pod", "10.203.0.10:8080", true, redirected},
		{"local pod listening on all addresses", ":8080", true, redirected},
		{"pod on another node", "10.203.0.10:8080", false, redirect.Counters{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := load(t, redirect.Config{Mode: redirect.ModeProxy, NodeProxy: nodeProxy})
			node, pod := bpftest.NewNetns(t), bpftest.NewNetns(t)
			podIP := netip.MustParseAddr("10.203.0.10")
			hostVeth, _ := bpftest.Veth(t, node, "veth-pod", netip.MustParsePrefix("10.203.0.1/24"),
				pod, "eth0", netip.PrefixFrom(podIP, 24))
			podCgroup, proxyCgroup := bpftest.NewCgroup(t), bpftest.NewCgroup(t)
			if tt.local {
				if err := d.AddPod(podIP, hostVeth, 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.AttachCgroup(podCgroup); err != nil {
				t.Fatal(err)
			}
			if err := d.AttachProxyCgroup(proxyCgroup); err != nil {
				t.Fatal(err)
			}

			server := bpftest.StartChild(t, "server", podCgroup, pod, tt.listen)
			expectLine(t, server, "ready")
			// The proxy's upstream leg: a client in the proxy's cgroup.
			backend := netip.AddrPortFrom(podIP, 8080).String()
			proxy := bpftest.StartChild(t, "app", proxyCgroup, node, backend, strconv.Itoa(rounds))
			expectLine(t, proxy, "done")
			if err := proxy.Wait(); err != nil {
				t.Fatalf("proxy: %v", err)
			}
			if err := server.Wait(); err != nil {
				t.Fatalf("server: %v", err)
			}
			if got := counters(t, d); got != tt.want {
				t.Errorf("Counters() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
