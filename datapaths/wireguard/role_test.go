package wireguard

import (
	"encoding/hex"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestOptionsRoundTrip(t *testing.T) {
	netns := Options{
		Device: Device, NodeIP: netip.MustParseAddr("172.18.0.2"), ListenPort: Port, KeyFile: "/run/k", Mark: Mark,
		Table: Table, RulePriority: RulePriority, TUN: TUN,
		Peers: []Peer{{Node: "n1", PublicKey: "key", Endpoint: netip.MustParseAddrPort("172.18.0.3:51820"),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("172.18.0.3/32"), netip.MustParsePrefix("10.244.1.0/24")}}},
	}
	names := NamesOf("0a1b2c3d4")
	shared := netns
	shared.Device, shared.Table, shared.PortTable, shared.Ports = names.Device, names.Table, names.PortTable, []uint16{15008}
	shared.RefuseEncrypted = true
	shared.Count = &Count{Table: "mb-wg-0a1b2c3d4", Pods: []netip.Addr{netip.MustParseAddr("10.244.1.5")}, Nodes: []netip.Addr{netip.MustParseAddr("172.18.0.3")}}
	shared.Peers = []Peer{{Node: "n1", PublicKey: "key", Endpoint: netip.MustParseAddrPort("172.18.0.3:51820"),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.244.1.5/32")}, PortIPs: []netip.Prefix{netip.MustParsePrefix("172.18.0.3/32")}}}
	for _, o := range []Options{netns, shared} {
		roundTrip(t, o)
	}
}

func roundTrip(t *testing.T, o Options) {
	t.Helper()
	args := o.Args()
	if args[0] != "agent" || args[1] != Role {
		t.Fatalf("Args = %q, want agent %s ...", args, Role)
	}
	got, err := parseOptions(args[2:], io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("options after Args and parse (-want +got):\n%s", diff)
	}
}

// TestUAPI checks the configuration wireguard-go is given: keys in hex,
// the mark, and each peer's endpoint and allowed addresses.
func TestUAPI(t *testing.T) {
	priv, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	// Routed for all traffic or for the tunnel port alone, both are
	// the peer's.
	o := Options{ListenPort: Port, Mark: Mark, Peers: []Peer{{
		Node: "n1", PublicKey: peer.PublicKey().String(), Endpoint: netip.MustParseAddrPort("172.18.0.3:51820"),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}, PortIPs: []netip.Prefix{netip.MustParsePrefix("172.18.0.3/32")},
	}}}
	cfg, err := o.config(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub := peer.PublicKey()
	want := strings.Join([]string{
		"private_key=" + hexKey(priv), "listen_port=51820", "fwmark=51820", "replace_peers=true",
		"public_key=" + hexKey(pub), "endpoint=172.18.0.3:51820", "replace_allowed_ips=true",
		"allowed_ip=10.244.1.0/24", "allowed_ip=172.18.0.3/32",
	}, "\n") + "\n"
	if got := uapi(cfg); got != want {
		t.Errorf("uapi:\n%s\nwant:\n%s", got, want)
	}
	if _, err := (Options{Peers: []Peer{{Node: "n1", PublicKey: "not a key"}}}).config(priv); err == nil {
		t.Error("config with a bad peer key: no error")
	}
}

func hexKey(k wgtypes.Key) string { return hex.EncodeToString(k[:]) }

func TestParseState(t *testing.T) {
	dump := "private_key=00\nlisten_port=51820\npublic_key=11\nrx_bytes=100\ntx_bytes=200\nlast_handshake_time_sec=1700000000\n" +
		"public_key=22\nrx_bytes=5\ntx_bytes=7\nlast_handshake_time_sec=0\nerrno=0\n"
	var s State
	if err := parseState(dump, &s); err != nil {
		t.Fatal(err)
	}
	if want := (State{RxBytes: 105, TxBytes: 207, Handshakes: 1}); s != want {
		t.Errorf("parseState = %+v, want %+v", s, want)
	}
	if err := parseState("rx_bytes=x\n", &s); err == nil {
		t.Error("parseState of a bad count: no error")
	}
}

// TestNamesOf checks that a run's names fit the kernel's limits and keep
// clear of wg-quick's and the reserved tables, and that clusters of one
// run differ.
func TestNamesOf(t *testing.T) {
	seen := map[int]string{}
	for _, id := range []string{"0a1b2c3d0", "0a1b2c3d1", "0a1b2c3d10", "ffffffff99"} {
		n := NamesOf(id)
		if len(n.Device) > 15 || !strings.HasPrefix(n.Device, "mbwg") {
			t.Errorf("%s: device %q, want mbwg and at most 15 characters", id, n.Device)
		}
		if n.Table < 0x6d620000 || n.PortTable != n.Table+1 || n.Table == Table {
			t.Errorf("%s: tables %d and %d, want from 0x6d620000, consecutive", id, n.Table, n.PortTable)
		}
		if other, ok := seen[n.Table]; ok {
			t.Errorf("%s and %s share table %d", id, other, n.Table)
		}
		seen[n.Table] = id
		if NamesOf(id) != n {
			t.Errorf("%s: names differ from call to call", id)
		}
	}
}
