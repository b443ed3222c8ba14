package wireguard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// MTU is the devices' MTU: the fabric's 1500 less WireGuard's IPv4
// overhead (20 IP, 8 UDP, 32 WireGuard header and tag).
const MTU = 1420

// node is a node's device with its routes and rule.
type node struct {
	impl string
	// userspace is wireguard-go's device; nil for the kernel's.
	userspace *device.Device
	link      netlink.Link
	routes    []netlink.Route
	rules     []*netlink.Rule
	name      string
	// counter counts plaintext on the node's fabric-facing device
	// (Options.Count); nil without.
	counter *nodeCounter
}

// up creates the device with cfg, the kernel's if it can, and routes the
// peers' addresses through it. On error it removes what it made.
func up(o Options, cfg wgtypes.Config, stderr io.Writer) (n *node, err error) {
	n = &node{name: o.Device}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.close())
			n = nil
		}
	}()
	if o.RefuseEncrypted {
		if err := alreadyEncrypted(); err != nil {
			return n, err
		}
	}
	if o.Count != nil {
		// Before the device: plaintext sent while it comes up counts too.
		if n.counter, err = installCounter(o); err != nil {
			return n, err
		}
	}
	if err := n.kernel(o, cfg); err != nil {
		if !errors.Is(err, unix.EOPNOTSUPP) {
			return n, err
		}
		// No module: wireguard-go, over a TUN device.
		if err := n.wireguardGo(o, cfg, stderr); err != nil {
			return n, err
		}
	}
	if err := n.route(o); err != nil {
		return n, err
	}
	return n, nil
}

// kernel creates and configures the kernel's device; an error wrapping
// EOPNOTSUPP means the kernel has no WireGuard, and nothing was created.
func (n *node) kernel(o Options, cfg wgtypes.Config) error {
	wg := &netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: o.Device, MTU: MTU}}
	if err := netlink.LinkAdd(wg); err != nil {
		return fmt.Errorf("add wireguard device %s: %w", o.Device, err)
	}
	n.impl = Kernel
	l, err := netlink.LinkByName(o.Device)
	if err != nil {
		return fmt.Errorf("find wireguard device %s: %w", o.Device, err)
	}
	n.link = l
	c, err := wgctrl.New()
	if err != nil {
		return fmt.Errorf("open wireguard control: %w", err)
	}
	defer c.Close()
	if err := c.ConfigureDevice(o.Device, cfg); err != nil {
		return fmt.Errorf("configure wireguard device %s: %w", o.Device, err)
	}
	return nil
}

// wireguardGo creates a TUN device from o.TUN and runs wireguard-go on it,
// in this process. It returns an error starting with unsupportedMsg when
// the node has no TUN clone device.
func (n *node) wireguardGo(o Options, cfg wgtypes.Config, stderr io.Writer) error {
	t, err := openTUN(o.TUN, o.Device)
	if err != nil {
		return err
	}
	n.impl = Userspace
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "wireguard-go: "+format+"\n", args...) }
	// wireguard-go's own logger writes to stdout, the control stream.
	d := device.NewDevice(t, conn.NewDefaultBind(), &device.Logger{Verbosef: device.DiscardLogf, Errorf: logf})
	n.userspace = d
	if l, err := netlink.LinkByName(o.Device); err == nil {
		n.link = l
	} else {
		return fmt.Errorf("find tun device %s: %w", o.Device, err)
	}
	if err := d.IpcSet(uapi(cfg)); err != nil {
		return fmt.Errorf("configure wireguard-go on %s: %w", o.Device, err)
	}
	if err := d.Up(); err != nil {
		return fmt.Errorf("start wireguard-go on %s: %w", o.Device, err)
	}
	return nil
}

// openTUN creates the TUN device name through the clone device at path,
// as tun.CreateTUN does through /dev/net/tun.
func openTUN(path, name string) (tun.Device, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
		return nil, fmt.Errorf("%s: no wireguard kernel module and no TUN device (%s: %w)", unsupportedMsg, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		// The virtio header lets wireguard-go batch segments (GSO/GRO).
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EBADFD) {
			return nil, fmt.Errorf("%s: %s is no TUN clone device: %w", unsupportedMsg, path, err)
		}
		return nil, fmt.Errorf("create tun device %s: %w", name, err)
	}
	t, err := tun.CreateTUNFromFile(os.NewFile(uintptr(fd), path), MTU)
	if err != nil {
		return nil, fmt.Errorf("create tun device %s: %w", name, err)
	}
	return t, nil
}

// uapi renders cfg in wireguard's configuration protocol, which
// wireguard-go's IpcSet reads (keys in hex).
func uapi(cfg wgtypes.Config) string {
	var b strings.Builder
	if cfg.PrivateKey != nil {
		fmt.Fprintf(&b, "private_key=%x\n", cfg.PrivateKey[:])
	}
	if cfg.ListenPort != nil {
		fmt.Fprintf(&b, "listen_port=%d\n", *cfg.ListenPort)
	}
	if cfg.FirewallMark != nil {
		fmt.Fprintf(&b, "fwmark=%d\n", *cfg.FirewallMark)
	}
	if cfg.ReplacePeers {
		b.WriteString("replace_peers=true\n")
	}
	for _, p := range cfg.Peers {
		fmt.Fprintf(&b, "public_key=%x\n", p.PublicKey[:])
		if p.Endpoint != nil {
			fmt.Fprintf(&b, "endpoint=%s\n", p.Endpoint)
		}
		if p.ReplaceAllowedIPs {
			b.WriteString("replace_allowed_ips=true\n")
		}
		for _, a := range p.AllowedIPs {
			fmt.Fprintf(&b, "allowed_ip=%s\n", a.String())
		}
	}
	return b.String()
}

// route brings the device up, routes the peers' addresses through it in
// o.Table, and sends every packet without o.Mark (all but the device's
// own) to that table, as wg-quick does. The peers' PortIPs go into
// o.PortTable, which only TCP to or from o.Ports looks up.
func (n *node) route(o Options) error {
	if err := netlink.LinkSetUp(n.link); err != nil {
		return fmt.Errorf("set %s up: %w", o.Device, err)
	}
	add := func(table int, prefixes []netip.Prefix) error {
		for _, a := range prefixes {
			dst := ipNet(a)
			r := netlink.Route{
				LinkIndex: n.link.Attrs().Index, Dst: &dst,
				Table: table, Scope: netlink.SCOPE_LINK, Src: o.NodeIP.AsSlice(),
			}
			if err := netlink.RouteAdd(&r); err != nil {
				return fmt.Errorf("route %s into %s: %w", a, o.Device, err)
			}
			n.routes = append(n.routes, r)
		}
		return nil
	}
	for _, p := range o.Peers {
		if err := add(o.Table, p.AllowedIPs); err != nil {
			return err
		}
		if len(o.Ports) > 0 {
			if err := add(o.PortTable, p.PortIPs); err != nil {
				return err
			}
		}
	}
	if err := n.addRule(o, o.Table, nil); err != nil {
		return err
	}
	for _, port := range o.Ports {
		pr := &netlink.RulePortRange{Start: port, End: port}
		for _, set := range []func(*netlink.Rule){
			func(r *netlink.Rule) { r.Dport = pr },
			func(r *netlink.Rule) { r.Sport = pr },
		} {
			if err := n.addRule(o, o.PortTable, set); err != nil {
				return err
			}
		}
	}
	return nil
}

// addRule sends to table every IPv4 packet that set selects, or, for a
// nil set, every one without o.Mark (all but the device's own). The port
// rules are not inverted, as inverting negates all of a rule's selectors
// at once: they match TCP alone, which the device's own UDP never is.
func (n *node) addRule(o Options, table int, set func(*netlink.Rule)) error {
	rule := netlink.NewRule()
	rule.Family = netlink.FAMILY_V4
	rule.Table = table
	rule.Priority = o.RulePriority
	if set == nil {
		rule.Mark = o.Mark
		mask := o.Mark
		rule.Mask = &mask
		rule.Invert = true
	} else {
		rule.IPProto = unix.IPPROTO_TCP
		set(rule)
	}
	if err := netlink.RuleAdd(rule); err != nil {
		return fmt.Errorf("add routing rule to table %d: %w", table, err)
	}
	n.rules = append(n.rules, rule)
	return nil
}

// state reads the device's counters.
func (n *node) state() (State, error) {
	s := State{Implementation: n.impl}
	if n.counter != nil {
		c, err := n.counter.counts()
		if err != nil {
			return s, err
		}
		s.Counts = &c
	}
	if n.userspace == nil {
		c, err := wgctrl.New()
		if err != nil {
			return s, fmt.Errorf("open wireguard control: %w", err)
		}
		defer c.Close()
		d, err := c.Device(n.name)
		if err != nil {
			return s, fmt.Errorf("read wireguard device %s: %w", n.name, err)
		}
		for _, p := range d.Peers {
			s.RxBytes += uint64(p.ReceiveBytes)
			s.TxBytes += uint64(p.TransmitBytes)
			if !p.LastHandshakeTime.IsZero() {
				s.Handshakes++
			}
		}
		return s, nil
	}
	text, err := n.userspace.IpcGet()
	if err != nil {
		return s, fmt.Errorf("read wireguard-go on %s: %w", n.name, err)
	}
	return s, parseState(text, &s)
}

// parseState adds the per-peer counters of a configuration protocol dump
// (wireguard-go's IpcGet) to s.
func parseState(text string, s *State) error {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "rx_bytes":
			dst = &s.RxBytes
		case "tx_bytes":
			dst = &s.TxBytes
		case "last_handshake_time_sec":
			if value != "0" {
				s.Handshakes++
			}
			continue
		default:
			continue
		}
		v, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return fmt.Errorf("parse wireguard-go %s: %w", key, err)
		}
		*dst += v
	}
	return sc.Err()
}

// close removes the rule, the routes and the device. Routes go with their
// device anyway; they are removed first so that nothing is left should
// the device outlive this process (the kernel's).
func (n *node) close() error {
	var errs []error
	for _, r := range n.rules {
		if err := netlink.RuleDel(r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete routing rule: %w", err))
		}
	}
	for _, r := range n.routes {
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", r.Dst, err))
		}
	}
	switch {
	case n.userspace != nil:
		// Closing the TUN file removes the device.
		n.userspace.Close()
	case n.impl == Kernel:
		l := n.link
		if l == nil {
			l = &netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: n.name}}
		}
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("delete wireguard device %s: %w", n.name, err))
		}
	}
	if n.counter != nil {
		errs = append(errs, n.counter.remove())
	}
	return errors.Join(errs...)
}

func ipNet(p netip.Prefix) net.IPNet {
	p = p.Masked()
	return net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
