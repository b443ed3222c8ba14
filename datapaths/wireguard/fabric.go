package wireguard

import (
	"errors"
	"fmt"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Fabric counts, in the fabric's namespace, the IPv4 packets its bridge
// switches between nodes: TCP ones, which are plaintext, since every TCP
// connection between two nodes of an encrypted cluster must go through
// the tunnels, and WireGuard ones (UDP to the devices' port). It counts in
// a bridge-family nftables table of its own, apart from what the nodes
// themselves count, so that a node that routes around its device shows.
type Fabric struct {
	// NetNS is the path of the fabric's network namespace.
	NetNS string
	// Table names the nftables table; it carries the run id.
	Table string
	// Port is the devices' UDP port.
	Port uint16
}

// FabricCounts are the packets the fabric switched between nodes.
type FabricCounts struct {
	// PlaintextTCP counts TCP packets (segments, or GSO batches of them).
	PlaintextTCP uint64 `json:"plaintextTCP"`
	// WireGuard counts UDP packets to the devices' port.
	WireGuard uint64 `json:"wireGuard"`
}

// tally adds the counters of the rules tagged plaintextTag and
// wireguardTag to into and returns how many it found.
func tally(rules []*nftables.Rule, into *FabricCounts) int {
	found := 0
	for _, r := range rules {
		var n uint64
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				n = ctr.Packets
			}
		}
		switch string(r.UserData) {
		case string(plaintextTag):
			into.PlaintextTCP, found = into.PlaintextTCP+n, found+1
		case string(wireguardTag):
			into.WireGuard, found = into.WireGuard+n, found+1
		}
	}
	return found
}

// The rules' user data, which Counts reads them by.
var (
	plaintextTag = []byte("plaintext-tcp")
	wireguardTag = []byte("wireguard-udp")
)

// Install creates the table with its counters.
func (f Fabric) Install() error {
	return f.conn(func(c *nftables.Conn) error {
		tab := c.AddTable(&nftables.Table{Family: nftables.TableFamilyBridge, Name: f.Table})
		ch := c.AddChain(&nftables.Chain{Name: "forward", Table: tab, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
		c.AddRule(&nftables.Rule{Table: tab, Chain: ch, UserData: plaintextTag, Exprs: ipv4Proto(unix.IPPROTO_TCP)})
		udp := append(ipv4Proto(unix.IPPROTO_UDP)[:4:4],
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(f.Port)},
			&expr.Counter{},
		)
		c.AddRule(&nftables.Rule{Table: tab, Chain: ch, UserData: wireguardTag, Exprs: udp})
		if err := c.Flush(); err != nil {
			return fmt.Errorf("install nftables table %s in %s: %w", f.Table, f.NetNS, err)
		}
		return nil
	})
}

// ipv4Proto matches IPv4 frames carrying proto and counts them.
func ipv4Proto(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_IP)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 9, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Counter{},
	}
}

// Counts reads the counters.
func (f Fabric) Counts() (FabricCounts, error) {
	var out FabricCounts
	err := f.conn(func(c *nftables.Conn) error {
		tab := &nftables.Table{Family: nftables.TableFamilyBridge, Name: f.Table}
		rules, err := c.GetRules(tab, &nftables.Chain{Name: "forward", Table: tab})
		if err != nil {
			return fmt.Errorf("read nftables table %s in %s: %w", f.Table, f.NetNS, err)
		}
		found := tally(rules, &out)
		if found != 2 {
			// A missing counter would read as no plaintext.
			return fmt.Errorf("read nftables table %s in %s: found %d of its 2 counters", f.Table, f.NetNS, found)
		}
		return nil
	})
	return out, err
}

// Remove deletes the table; a missing table or namespace is not an error.
func (f Fabric) Remove() error {
	if _, err := os.Stat(f.NetNS); os.IsNotExist(err) {
		return nil
	}
	return f.conn(func(c *nftables.Conn) error {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyBridge, Name: f.Table})
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete nftables table %s in %s: %w", f.Table, f.NetNS, err)
		}
		return nil
	})
}

func (f Fabric) conn(fn func(*nftables.Conn) error) error {
	ns, err := os.Open(f.NetNS)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns.Fd())))
	if err != nil {
		return fmt.Errorf("connect to nftables in %s: %w", f.NetNS, err)
	}
	defer c.CloseLasting()
	return fn(c)
}
