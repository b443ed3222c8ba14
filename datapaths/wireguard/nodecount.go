package wireguard

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Count is what a node agent counts on its node's fabric-facing device,
// the one holding Options.NodeIP, where the run has no fabric namespace of
// its own to count in (kube): TCP packets between two of Pods, or between
// two of Nodes to or from one of Options.Ports, each of which should have
// crossed in the tunnels, and WireGuard packets (UDP to
// Options.ListenPort). Both directions count, on every node, in an inet
// nftables table of the node's namespace.
type Count struct {
	// Table names the nftables table; it carries the run id, so that
	// the kube provider's node agent removes it with the run's other
	// tables should this agent be killed.
	Table string `json:"table"`
	// Pods are the run's pod addresses.
	Pods []netip.Addr `json:"pods"`
	// Nodes are the run's node addresses.
	Nodes []netip.Addr `json:"nodes,omitempty"`
}

// cniEncryptsMsg starts the agent's error when the node already encrypts
// between nodes; Install looks for it, as for unsupportedMsg.
const cniEncryptsMsg = "the cluster already encrypts between nodes"

// cniDevices are the WireGuard devices CNIs create for their node-to-node
// encryption (Cilium, flannel, Calico).
var cniDevices = []string{"cilium_wg0", "flannel-wg", "flannel-wg-v6", "wireguard.cali", "wg-v6.cali"}

// alreadyEncrypted returns an error starting with cniEncryptsMsg when the
// calling process's namespace has a CNI's or any other WireGuard device,
// or IPsec (xfrm) states: a second tunnel would be stacked on the first.
func alreadyEncrypted() error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list the node's links: %w", err)
	}
	for _, l := range links {
		name := l.Attrs().Name
		if slices.Contains(cniDevices, name) || l.Type() == "wireguard" {
			return fmt.Errorf("%s (device %s): meshbench does not stack a second tunnel on it; compare with none on this cluster instead", cniEncryptsMsg, name)
		}
	}
	// A kernel without xfrm has no states to list.
	if states, err := netlink.XfrmStateList(netlink.FAMILY_ALL); err == nil && len(states) > 0 {
		return fmt.Errorf("%s (%d IPsec xfrm states): meshbench does not stack a second tunnel on it; compare with none on this cluster instead", cniEncryptsMsg, len(states))
	}
	return nil
}

// nodeCounter is a Count installed in the node's namespace.
type nodeCounter struct {
	table string
}

// fabricDevice returns the name of the link holding ip.
func fabricDevice(ip netip.Addr) (string, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("list the node's addresses: %w", err)
	}
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip {
			l, err := netlink.LinkByIndex(a.LinkIndex)
			if err != nil {
				return "", fmt.Errorf("find the link of %s: %w", ip, err)
			}
			return l.Attrs().Name, nil
		}
	}
	return "", fmt.Errorf("no link of the node holds its address %s", ip)
}

// installCounter creates o.Count's table in the calling process's
// namespace.
func installCounter(o Options) (*nodeCounter, error) {
	cnt := o.Count
	dev, err := fabricDevice(o.NodeIP)
	if err != nil {
		return nil, err
	}
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("connect to nftables: %w", err)
	}
	defer c.CloseLasting()
	tab := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: cnt.Table})
	addrSet := func(name string, addrs []netip.Addr) (*nftables.Set, error) {
		s := &nftables.Set{Table: tab, Name: name, KeyType: nftables.TypeIPAddr}
		var elems []nftables.SetElement
		for _, a := range addrs {
			elems = append(elems, nftables.SetElement{Key: a.AsSlice()})
		}
		if err := c.AddSet(s, elems); err != nil {
			return nil, fmt.Errorf("add nftables set %s: %w", name, err)
		}
		return s, nil
	}
	pods, err := addrSet("pods", cnt.Pods)
	if err != nil {
		return nil, err
	}
	nodes, err := addrSet("nodes", cnt.Nodes)
	if err != nil {
		return nil, err
	}
	ports := &nftables.Set{Table: tab, Name: "ports", KeyType: nftables.TypeInetService}
	var pe []nftables.SetElement
	for _, p := range o.Ports {
		pe = append(pe, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(p)})
	}
	if err := c.AddSet(ports, pe); err != nil {
		return nil, fmt.Errorf("add nftables set ports: %w", err)
	}
	for _, dir := range []struct {
		chain string
		hook  *nftables.ChainHook
		iface expr.MetaKey
	}{
		{"in", nftables.ChainHookPrerouting, expr.MetaKeyIIFNAME},
		{"out", nftables.ChainHookPostrouting, expr.MetaKeyOIFNAME},
	} {
		ch := c.AddChain(&nftables.Chain{Name: dir.chain, Table: tab, Type: nftables.ChainTypeFilter,
			Hooknum: dir.hook, Priority: nftables.ChainPriorityFilter})
		on := func(proto byte) []expr.Any {
			return []expr.Any{
				&expr.Meta{Key: dir.iface, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(dev)},
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			}
		}
		between := func(set *nftables.Set) []expr.Any {
			return []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
			}
		}
		port := func(offset uint32) []expr.Any {
			return []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: 2},
				&expr.Lookup{SourceRegister: 1, SetName: ports.Name, SetID: ports.ID},
			}
		}
		rule := func(tag []byte, parts ...[]expr.Any) {
			var exprs []expr.Any
			for _, p := range parts {
				exprs = append(exprs, p...)
			}
			c.AddRule(&nftables.Rule{Table: tab, Chain: ch, UserData: tag, Exprs: append(exprs, &expr.Counter{})})
		}
		rule(plaintextTag, on(unix.IPPROTO_TCP), between(pods))
		// Source and destination port: two rules, one counter each.
		rule(plaintextTag, on(unix.IPPROTO_TCP), between(nodes), port(0))
		rule(plaintextTag, on(unix.IPPROTO_TCP), between(nodes), port(2))
		rule(wireguardTag, on(unix.IPPROTO_UDP), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(o.ListenPort))},
		})
	}
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("install nftables table %s: %w", cnt.Table, err)
	}
	return &nodeCounter{table: cnt.Table}, nil
}

// ifname is name as nftables compares interface names: NUL-padded to
// IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// nodeRules is how many counting rules installCounter adds: four in each
// direction.
const nodeRules = 8

// counts reads the table's counters, summed over both directions.
func (n *nodeCounter) counts() (FabricCounts, error) {
	var out FabricCounts
	c, err := nftables.New()
	if err != nil {
		return out, fmt.Errorf("connect to nftables: %w", err)
	}
	defer c.CloseLasting()
	tab := &nftables.Table{Family: nftables.TableFamilyINet, Name: n.table}
	found := 0
	for _, chain := range []string{"in", "out"} {
		rules, err := c.GetRules(tab, &nftables.Chain{Name: chain, Table: tab})
		if err != nil {
			return out, fmt.Errorf("read nftables table %s: %w", n.table, err)
		}
		found += tally(rules, &out)
	}
	if found != nodeRules {
		// A missing counter would read as no plaintext.
		return out, fmt.Errorf("read nftables table %s: found %d of its %d counters", n.table, found, nodeRules)
	}
	return out, nil
}

// remove deletes the table; a missing one is not an error.
func (n *nodeCounter) remove() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("connect to nftables: %w", err)
	}
	defer c.CloseLasting()
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: n.table})
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete nftables table %s: %w", n.table, err)
	}
	return nil
}

// Names are a run's device and routing tables on a node it shares with
// others (kube), where fixed names would meet another run's.
type Names struct {
	Device    string
	Table     int
	PortTable int
}

// Rules returns the IPv4 routing rules into n's tables in h's network
// namespace (a zero Handle's is the caller's).
func (n Names) Rules(h *netlink.Handle) ([]netlink.Rule, error) {
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list routing rules: %w", err)
	}
	return slices.DeleteFunc(rules, func(r netlink.Rule) bool { return r.Table != n.Table && r.Table != n.PortTable }), nil
}

// NamesOf returns the names of run runID: a device "mbwg" and 8 hex
// digits, and two routing tables, all from a hash of the run id.
func NamesOf(runID string) Names {
	h := fnv.New32a()
	h.Write([]byte(runID))
	sum := h.Sum32()
	// Tables in 0x6d620000 (“mb”) and up, clear of the reserved 253-255
	// and of wg-quick's 51820.
	table := 0x6d620000 | int(sum&0xfffe)
	return Names{Device: fmt.Sprintf("mbwg%08x", sum), Table: table, PortTable: table + 1}
}

// RemoveRun removes from the calling process's namespace what a node
// agent of run runID left when it was killed: the rules into the run's
// tables, the routes in them and its device (a kernel one outlives the
// agent; a TUN one dies with it). The counting table goes with the run's
// other nftables tables. The kube provider's node agent runs it as it
// ends, also after a killed run's namespace is deleted by `meshbench
// cleanup`.
func RemoveRun(runID string) error {
	names := NamesOf(runID)
	var errs []error
	rules, err := names.Rules(&netlink.Handle{})
	if err != nil {
		return err
	}
	for _, r := range rules {
		if err := netlink.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete routing rule to table %d: %w", r.Table, err))
		}
	}
	for _, table := range []int{names.Table, names.PortTable} {
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			errs = append(errs, fmt.Errorf("list routes of table %d: %w", table, err))
			continue
		}
		for _, r := range routes {
			if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("delete route %s: %w", r.Dst, err))
			}
		}
	}
	if l, err := netlink.LinkByName(names.Device); err == nil {
		if err := netlink.LinkDel(l); err != nil && !strings.Contains(err.Error(), "no such device") {
			errs = append(errs, fmt.Errorf("delete device %s: %w", names.Device, err))
		}
	}
	return errors.Join(errs...)
}
