package wireguard

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/meshbench/meshbench/internal/agent"
)

// Role is the node agent that holds a node's end of the tunnels: it creates
// the WireGuard device (the kernel's where the node has the module, else
// wireguard-go over a TUN device, which runs inside this process), routes
// the other nodes' pod ranges and addresses through it, and reports ready.
// It answers the calls of [Client] and removes the device, its routes and
// its routing rule when it exits. It runs in the node's network namespace.
const Role = "wireguard"

// unsupportedMsg starts the agent's error when the node has neither the
// kernel module nor a TUN device. Errors cross the process boundary as
// text, so Install looks for it to return datapaths.ErrUnsupported.
const unsupportedMsg = "node cannot run wireguard"

// The implementations of the device, as results record them.
const (
	Kernel    = "kernel"
	Userspace = "userspace"
)

// The role's methods.
var stateMethod = agent.Method[struct{}, State]{Name: "state"}

// Client calls a node agent.
type Client struct {
	agent.Caller
}

// State returns what the node's device is and what it carried.
func (c Client) State(ctx context.Context) (State, error) {
	return agent.Invoke(ctx, c.Caller, stateMethod, struct{}{})
}

// State is a node's device and its traffic since it came up.
type State struct {
	// Implementation is Kernel or Userspace.
	Implementation string `json:"implementation"`
	// RxBytes and TxBytes sum the encrypted bytes received from and sent
	// to every peer, as the device counts them.
	RxBytes uint64 `json:"rxBytes"`
	TxBytes uint64 `json:"txBytes"`
	// Handshakes is how many peers completed a handshake.
	Handshakes int `json:"handshakes"`
	// Counts is what the node's fabric-facing device carried since the
	// agent started, with Options.Count; nil without.
	Counts *FabricCounts `json:"counts,omitempty"`
}

// Options are the role's flags: the node's end of the tunnels, which the
// agent gets as JSON in its -config flag. The private key is not among
// them: it comes in KeyFile, sent on stdin (agent.FilesOnStdin).
type Options struct {
	// Device names the WireGuard device in the node's namespace.
	Device string `json:"device"`
	// NodeIP is the node's fabric address: the source of the node's own
	// packets into the tunnels.
	NodeIP netip.Addr `json:"nodeIP"`
	// ListenPort is the device's UDP port on every node.
	ListenPort int `json:"listenPort"`
	// KeyFile holds the node's private key, base64 as wg(8) writes it.
	KeyFile string `json:"keyFile"`
	// Mark is the firewall mark of the device's own UDP packets; Rule
	// sends every packet without it through Table.
	Mark uint32 `json:"mark"`
	// Table is the routing table holding the routes into the device.
	Table int `json:"table"`
	// RulePriority is the priority of the routing rule into Table.
	RulePriority int `json:"rulePriority"`
	// TUN is the TUN clone device the userspace implementation opens.
	TUN string `json:"tun"`
	// Peers are the other nodes.
	Peers []Peer `json:"peers"`
	// Ports are the TCP ports for which the peers' PortIPs are routed
	// through the device, in PortTable, by a rule for each port as
	// destination and as source (the node proxies' tunnel port): on a
	// shared node, the run's traffic between node addresses and no other.
	Ports     []uint16 `json:"ports,omitempty"`
	PortTable int      `json:"portTable,omitempty"`
	// Count, when set, makes the agent count plaintext in its own node's
	// namespace, where no fabric namespace can (kube).
	Count *Count `json:"count,omitempty"`
	// RefuseEncrypted makes the agent refuse to start where the node
	// already encrypts between nodes (a CNI's WireGuard device, IPsec
	// states): on a cluster's own nodes, not in namespaces of the run's.
	RefuseEncrypted bool `json:"refuseEncrypted,omitempty"`
}

// Peer is another node's end of a tunnel.
type Peer struct {
	Node string `json:"node"`
	// PublicKey is the peer's public key, base64.
	PublicKey string `json:"publicKey"`
	// Endpoint is the peer's fabric address and ListenPort.
	Endpoint netip.AddrPort `json:"endpoint"`
	// AllowedIPs are the peer's addresses: its pod range and its own
	// address (netns), or the run's pods on it (kube). They are routed
	// into the device, and only packets from them (and from PortIPs) are
	// accepted from the peer.
	AllowedIPs []netip.Prefix `json:"allowedIPs"`
	// PortIPs are more of the peer's addresses (its node address on
	// kube), routed into the device only for TCP to or from
	// Options.Ports.
	PortIPs []netip.Prefix `json:"portIPs,omitempty"`
}

// Args renders the arguments of the meshbench executable that run the
// node agent with o.
func (o Options) Args() []string {
	b, err := json.Marshal(o)
	if err != nil {
		// Strings, numbers, addresses and lists of them always encode.
		panic(fmt.Sprintf("encode the node's tunnels: %v", err))
	}
	return []string{"agent", Role, "-config", string(b)}
}

func parseOptions(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.Func("config", "the node's tunnels as `JSON`", func(s string) error { return json.Unmarshal([]byte(s), &o) })
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// config is the device configuration of o with the private key priv.
func (o Options) config(priv wgtypes.Key) (wgtypes.Config, error) {
	port, mark := o.ListenPort, int(o.Mark)
	cfg := wgtypes.Config{PrivateKey: &priv, ListenPort: &port, FirewallMark: &mark, ReplacePeers: true}
	for _, p := range o.Peers {
		pub, err := wgtypes.ParseKey(p.PublicKey)
		if err != nil {
			return cfg, fmt.Errorf("peer %s: %w", p.Node, err)
		}
		pc := wgtypes.PeerConfig{PublicKey: pub, Endpoint: net.UDPAddrFromAddrPort(p.Endpoint), ReplaceAllowedIPs: true}
		for _, a := range append(slices.Clone(p.AllowedIPs), p.PortIPs...) {
			pc.AllowedIPs = append(pc.AllowedIPs, ipNet(a))
		}
		cfg.Peers = append(cfg.Peers, pc)
	}
	return cfg, nil
}

// readKey reads the private key file.
func readKey(path string) (wgtypes.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("read private key: %w", err)
	}
	k, err := wgtypes.ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("read private key %s: %w", path, err)
	}
	return k, nil
}

// NodeAgent runs the role: it brings the node's device up, answers the
// calls of a Client until stdin closes, and then removes the device.
func NodeAgent(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	priv, err := readKey(o.KeyFile)
	if err != nil {
		return err
	}
	// From here on the key is in this process's memory only: on a shared
	// node nothing of it stays behind, whatever ends the agent.
	if err := os.Remove(o.KeyFile); err != nil {
		return fmt.Errorf("remove private key file: %w", err)
	}
	cfg, err := o.config(priv)
	if err != nil {
		return err
	}
	d, err := up(o, cfg, stderr)
	if err != nil {
		return err
	}
	err = agent.Serve(ctx, "", stdin, stdout,
		agent.Handle(stateMethod, func(context.Context, struct{}) (State, error) { return d.state() }),
	)
	return errors.Join(err, d.close())
}
