package proxy

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Options are the proxy role's flags, as data: datapaths fill them and start
// the role with Args.
type Options struct {
	Mode                      Mode
	Outbound, Inbound, Tunnel string
	Mark                      uint32
	// Services is the path of a service table written by SaveServices.
	Services string
	// PeerPort selects SidecarPeers with that tunnel port.
	PeerPort uint16
	// Peers selects NodePeers.
	Peers []NodePeer
	// Waypoints and Waypoint are Config's.
	Waypoints []ServiceWaypoint
	Waypoint  bool
	// CA, Cert and Key are the PEM files of the run's CA and the proxy's
	// identity; all three turn mTLS on.
	CA, Cert, Key string
	// AllowPeers are the service names allowed as peers.
	AllowPeers []string
	// Splice lets l4 splice between TCP sockets (Config.NoSplice when off).
	Splice bool
	// CountTable names the nftables table in the proxy's network namespace
	// whose redirect counters Stats reports as StatRedirectHits.
	CountTable string
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options {
	return Options{Mode: L4, Outbound: DefaultOutbound, Inbound: DefaultInbound, Mark: DefaultMark, Splice: true}
}

// Args renders o as the arguments of the meshbench executable that start a
// proxy with it.
func (o Options) Args() []string {
	args := []string{"agent", Role,
		"--mode", string(o.Mode),
		"--outbound", o.Outbound,
		"--inbound", o.Inbound,
		"--tunnel", o.Tunnel,
		"--mark", strconv.FormatUint(uint64(o.Mark), 10),
		"--splice=" + strconv.FormatBool(o.Splice),
	}
	add := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	add("services", o.Services)
	if o.PeerPort != 0 {
		add("peer-port", strconv.Itoa(int(o.PeerPort)))
	}
	for _, p := range o.Peers {
		add("peer", p.String())
	}
	for _, w := range o.Waypoints {
		add("waypoint-for", w.String())
	}
	if o.Waypoint {
		args = append(args, "--waypoint")
	}
	add("ca", o.CA)
	add("cert", o.Cert)
	add("key", o.Key)
	add("allow-peers", strings.Join(o.AllowPeers, ","))
	add("count-table", o.CountTable)
	return args
}

// String renders the peer as the -peer flag takes it:
// CIDR=ADDR:PORT[@IDENTITY].
func (n NodePeer) String() string {
	s := n.PodCIDR.String() + "=" + n.Addr.String()
	if n.Identity != "" {
		s += "@" + n.Identity
	}
	return s
}

// String renders the waypoint as the -waypoint-for flag takes it:
// VIP:PORT=ADDR:PORT[@IDENTITY].
func (w ServiceWaypoint) String() string {
	s := w.VIP.String() + "=" + w.Addr.String()
	if w.Identity != "" {
		s += "@" + w.Identity
	}
	return s
}

// parseWaypoint parses VIP:PORT=ADDR:PORT[@IDENTITY].
func parseWaypoint(s string) (ServiceWaypoint, error) {
	vip, rest, ok := strings.Cut(s, "=")
	if !ok {
		return ServiceWaypoint{}, fmt.Errorf("parse waypoint %q: want VIP:PORT=ADDR:PORT[@IDENTITY]", s)
	}
	addr, identity, _ := strings.Cut(rest, "@")
	var (
		w   = ServiceWaypoint{Identity: identity}
		err error
	)
	if w.VIP, err = netip.ParseAddrPort(vip); err != nil {
		return ServiceWaypoint{}, fmt.Errorf("parse waypoint %q: %w", s, err)
	}
	if w.Addr, err = netip.ParseAddrPort(addr); err != nil {
		return ServiceWaypoint{}, fmt.Errorf("parse waypoint %q: %w", s, err)
	}
	if identity != "" {
		if err := checkName(identity); err != nil {
			return ServiceWaypoint{}, fmt.Errorf("parse waypoint %q: identity: %w", s, err)
		}
	}
	return w, nil
}

// parseNodePeer parses CIDR=ADDR:PORT[@IDENTITY].
func parseNodePeer(s string) (NodePeer, error) {
	cidr, rest, ok := strings.Cut(s, "=")
	if !ok {
		return NodePeer{}, fmt.Errorf("parse peer %q: want CIDR=ADDR:PORT[@IDENTITY]", s)
	}
	addr, identity, _ := strings.Cut(rest, "@")
	var (
		n   = NodePeer{Identity: identity}
		err error
	)
	if n.PodCIDR, err = netip.ParsePrefix(cidr); err != nil {
		return NodePeer{}, fmt.Errorf("parse peer %q: %w", s, err)
	}
	if n.Addr, err = netip.ParseAddrPort(addr); err != nil {
		return NodePeer{}, fmt.Errorf("parse peer %q: %w", s, err)
	}
	if identity != "" {
		if err := checkName(identity); err != nil {
			return NodePeer{}, fmt.Errorf("parse peer %q: identity: %w", s, err)
		}
	}
	return n, nil
}

func parseOptions(args []string, stderr io.Writer) (Options, error) {
	o := DefaultOptions()
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Func("mode", "proxy `mode`: l4 or l7 (default l4)", func(s string) error {
		o.Mode = Mode(s)
		return nil
	})
	fs.StringVar(&o.Outbound, "outbound", o.Outbound, "outbound listener `address` (empty: off)")
	fs.StringVar(&o.Inbound, "inbound", o.Inbound, "inbound listener `address` (empty: off)")
	fs.StringVar(&o.Tunnel, "tunnel", "", "tunnel listener `address` (empty: off)")
	fs.Func("mark", "SO_MARK on upstream sockets, decimal or 0x hex (0: none) (default 0x539)", func(s string) error {
		m, err := strconv.ParseUint(s, 0, 32)
		o.Mark = uint32(m)
		return err
	})
	fs.StringVar(&o.Services, "services", "", "service table `file` (JSON)")
	fs.Func("peer-port", "sidecar model: tunnel to the destination pod's sidecar on this `port`", func(s string) error {
		port, err := strconv.ParseUint(s, 10, 16)
		o.PeerPort = uint16(port)
		return err
	})
	fs.Func("peer", "node-proxy model, repeatable: tunnel pods in CIDR to the node proxy at ADDR:PORT (`CIDR=ADDR:PORT[@IDENTITY]`)", func(s string) error {
		n, err := parseNodePeer(s)
		o.Peers = append(o.Peers, n)
		return err
	})
	fs.Func("waypoint-for", "repeatable: send outbound traffic to the service at VIP:PORT through its waypoint's tunnel at ADDR:PORT (`VIP:PORT=ADDR:PORT[@IDENTITY]`)", func(s string) error {
		w, err := parseWaypoint(s)
		o.Waypoints = append(o.Waypoints, w)
		return err
	})
	fs.BoolVar(&o.Waypoint, "waypoint", false, "serve as a waypoint: tunnels may name a service VIP, and go on through the peers")
	fs.StringVar(&o.CA, "ca", "", "run CA certificate `file` (PEM)")
	fs.StringVar(&o.Cert, "cert", "", "identity certificate `file` (PEM)")
	fs.StringVar(&o.Key, "key", "", "identity key `file` (PEM)")
	fs.Func("allow-peers", "comma-separated service `names` allowed as peers (default: any the CA issued)", func(s string) error {
		o.AllowPeers = strings.Split(s, ",")
		return nil
	})
	fs.StringVar(&o.CountTable, "count-table", "", "report the redirect counters of this nftables `table` of the proxy's namespace")
	fs.BoolVar(&o.Splice, "splice", o.Splice, "l4: splice between TCP sockets; false reads and writes (needed behind sk_msg redirect)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// Config loads the files o names and builds the proxy's Config.
func (o Options) Config() (Config, error) {
	cfg := Config{Mode: o.Mode, Outbound: o.Outbound, Inbound: o.Inbound, Tunnel: o.Tunnel, Mark: o.Mark, NoSplice: !o.Splice,
		Waypoints: o.Waypoints, Waypoint: o.Waypoint}
	if o.Services != "" {
		services, err := LoadServices(o.Services)
		if err != nil {
			return Config{}, err
		}
		cfg.Services = services
	}
	switch {
	case o.PeerPort != 0 && len(o.Peers) > 0:
		return Config{}, errors.New("choose one peer model: -peer-port (sidecar) or -peer (node proxy)")
	case o.PeerPort != 0:
		cfg.Peer = SidecarPeers(o.PeerPort, cfg.Services)
	case len(o.Peers) > 0:
		cfg.Peer = NodePeers(o.Peers)
	}
	switch set := countSet(o.CA, o.Cert, o.Key); set {
	case 0:
		if len(o.AllowPeers) > 0 {
			return Config{}, errors.New("-allow-peers needs mTLS: set -ca, -cert and -key")
		}
	case 3:
		tc, err := LoadTLS(o.CA, o.Cert, o.Key, o.AllowPeers)
		if err != nil {
			return Config{}, err
		}
		cfg.TLS = tc
	default:
		return Config{}, errors.New("mTLS needs all of -ca, -cert and -key")
	}
	return cfg, nil
}

func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}
