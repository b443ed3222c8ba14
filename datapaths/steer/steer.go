// Package steer programs the netfilter (nftables) rules that steer
// application traffic into a proxy, inside one network namespace that a run
// created: the Istio-style REDIRECT used by the sidecar and nodeproxy
// datapaths, and the rejections that keep plaintext away from meshed pods
// under strict mTLS, installed and removed in the namespace it runs in by the steer
// agent role (Run, with Options). Each datapath owns one table per namespace; deleting the table
// removes every rule. Every redirect rule carries a counter, which is how a
// datapath proves its rules saw the traffic.
package steer

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Hook is where a rule applies.
type Hook int

const (
	// Output catches connections the namespace's own processes open.
	Output Hook = iota
	// Prerouting catches connections arriving from another interface.
	Prerouting
)

// Rule redirects matching TCP connections to a local port. Zero-valued
// match fields match anything.
type Rule struct {
	Hook Hook
	// Src matches the source address, e.g. a node's pod range.
	Src netip.Prefix
	// Dst matches the destination address.
	Dst netip.Prefix
	// DstPort matches the destination port.
	DstPort uint16
	// ToPort is the local port the connection is redirected to.
	ToPort uint16
}

// Reject refuses TCP to an address and port with a reset: strict mTLS on a
// node proxy, where plaintext to a meshed pod must not reach it. It applies
// to traffic the namespace forwards (from other nodes and pods) and to
// what its own processes send, except packets carrying the table's
// SkipMark: the proxy's.
type Reject struct {
	Dst     netip.Prefix
	DstPort uint16
}

// Table is one datapath's rules in one namespace.
type Table struct {
	// NetNS is the namespace's path.
	NetNS string
	// Name is the nftables table name; it should carry the run id.
	Name string
	// SkipMark exempts packets with this mark: the proxy's own traffic.
	SkipMark uint32
	Rules    []Rule
	Rejects  []Reject
}

// chain priorities: before the cluster's service DNAT (dstnat, -100), so that
// the proxy sees the service address the application asked for.
const priority = -110

// Install creates the table with its chains and rules.
func Install(t Table) error {
	return withConn(t.NetNS, func(c *nftables.Conn) error {
		tab := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: t.Name})
		prio := nftables.ChainPriority(priority)
		chains := map[Hook]*nftables.Chain{
			Output: c.AddChain(&nftables.Chain{Name: "output", Table: tab, Type: nftables.ChainTypeNAT,
				Hooknum: nftables.ChainHookOutput, Priority: &prio}),
			Prerouting: c.AddChain(&nftables.Chain{Name: "prerouting", Table: tab, Type: nftables.ChainTypeNAT,
				Hooknum: nftables.ChainHookPrerouting, Priority: &prio}),
		}
		for _, ch := range chains {
			c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: skipLoopback()})
			if t.SkipMark != 0 {
				c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: skipMark(t.SkipMark)})
			}
		}
		for _, r := range t.Rules {
			c.AddRule(&nftables.Rule{Table: tab, Chain: chains[r.Hook], Exprs: r.exprs()})
		}
		if len(t.Rejects) > 0 {
			addRejects(c, tab, t.SkipMark, t.Rejects)
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("install nftables table %s in %s: %w", t.Name, t.NetNS, err)
		}
		return nil
	})
}

// addRejects adds filter chains on forward and output with t's rejections.
func addRejects(c *nftables.Conn, tab *nftables.Table, skip uint32, rejects []Reject) {
	prio := nftables.ChainPriorityFilter
	for _, hook := range []struct {
		name string
		num  *nftables.ChainHook
	}{{"reject-forward", nftables.ChainHookForward}, {"reject-output", nftables.ChainHookOutput}} {
		ch := c.AddChain(&nftables.Chain{Name: hook.name, Table: tab, Type: nftables.ChainTypeFilter,
			Hooknum: hook.num, Priority: prio})
		if skip != 0 {
			c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: skipMark(skip)})
		}
		for _, r := range rejects {
			c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: r.exprs()})
		}
	}
}

// Hits returns how many packets the table's redirect rules matched.
func Hits(netnsPath, table string) (uint64, error) {
	var hits uint64
	err := withConn(netnsPath, func(c *nftables.Conn) error {
		tab := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: table}
		for _, name := range []string{"output", "prerouting"} {
			rules, err := c.GetRules(tab, &nftables.Chain{Name: name, Table: tab})
			if err != nil {
				return fmt.Errorf("read nftables rules of %s/%s in %s: %w", table, name, netnsPath, err)
			}
			for _, r := range rules {
				for _, e := range r.Exprs {
					if ctr, ok := e.(*expr.Counter); ok {
						hits += ctr.Packets
					}
				}
			}
		}
		return nil
	})
	return hits, err
}

// Remove deletes the table; a missing table or namespace is not an error.
func Remove(netnsPath, table string) error {
	if _, err := os.Stat(netnsPath); os.IsNotExist(err) {
		return nil
	}
	return withConn(netnsPath, func(c *nftables.Conn) error {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: table})
		if err := c.Flush(); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("delete nftables table %s in %s: %w", table, netnsPath, err)
		}
		return nil
	})
}

func withConn(netnsPath string, fn func(*nftables.Conn) error) error {
	var opts []nftables.ConnOption
	if netnsPath != SelfNetNS {
		// Entering another namespace takes CAP_SYS_ADMIN; an init
		// container working on its own has CAP_NET_ADMIN only.
		f, err := os.Open(netnsPath)
		if err != nil {
			return fmt.Errorf("open network namespace: %w", err)
		}
		defer f.Close()
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("connect to nftables in %s: %w", netnsPath, err)
	}
	defer c.CloseLasting()
	return fn(c)
}

func (r Rule) exprs() []expr.Any {
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
	e = append(e, matchPrefix(r.Src, 12)...)
	e = append(e, matchPrefix(r.Dst, 16)...)
	e = append(e, matchDstPort(r.DstPort)...)
	return append(e,
		&expr.Counter{},
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(r.ToPort)},
		&expr.Redir{RegisterProtoMin: 1},
	)
}

func (r Reject) exprs() []expr.Any {
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
	e = append(e, matchPrefix(r.Dst, 16)...)
	e = append(e, matchDstPort(r.DstPort)...)
	return append(e, &expr.Counter{}, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
}

// matchDstPort matches the TCP destination port; 0 matches any.
func matchDstPort(port uint16) []expr.Any {
	if port == 0 {
		return nil
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// matchPrefix matches the IPv4 address at offset of the network header
// against p; an invalid p matches anything.
func matchPrefix(p netip.Prefix, offset uint32) []expr.Any {
	if !p.IsValid() {
		return nil
	}
	m := make([]byte, 4)
	for i := range p.Bits() {
		m[i/8] |= 0x80 >> (i % 8)
	}
	addr := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]},
	}
}

// skipLoopback leaves traffic to 127.0.0.0/8 alone, as Istio does.
func skipLoopback() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127}},
		&expr.Verdict{Kind: expr.VerdictReturn},
	}
}

func skipMark(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Verdict{Kind: expr.VerdictReturn},
	}
}
