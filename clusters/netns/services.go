package netns

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
)

// nftables registers as nft uses them for concatenations: a 4-byte field
// in NFT_REG_1, then the following 32-bit registers.
const (
	reg1     = 1
	reg32_01 = 9
	reg32_02 = 10
)

var serviceKey = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)

// programServices installs service load balancing in one node's namespace
// the way kube-proxy's nftables mode does, in a table named after the run:
//
//	map service-ips { ipv4_addr . inet_proto . inet_service : verdict }
//	chain services { ip daddr . meta l4proto . th dport vmap @service-ips }
//	chain svc-K { numgen random mod N vmap { 0 : goto ep-K-0, ... } }
//	chain ep-K-J { meta l4proto tcp dnat to POD:TARGETPORT }
//
// with the services chain jumped to from nat prerouting (traffic from pods)
// and nat output (traffic from processes on the node). It sends one batch
// per service, then the map and hooks: the kernel acknowledges every
// message of a batch, and a batch for many services overflows the
// socket's receive buffer.
func programServices(nsFD int, table string, topo *clusters.Topology) error {
	conn, err := nftables.New(nftables.WithNetNSFd(nsFD), nftables.AsLasting())
	if err != nil {
		return fmt.Errorf("open nftables: %w", err)
	}
	defer conn.CloseLasting()
	podIPs := map[string]netip.Addr{}
	for _, p := range topo.Pods {
		podIPs[p.Name] = p.IP
	}

	t := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: table})
	ips := &nftables.Set{
		Table: t, Name: "service-ips", IsMap: true, Concatenation: true,
		KeyType: serviceKey, DataType: nftables.TypeVerdict,
	}
	if err := conn.AddSet(ips, nil); err != nil {
		return fmt.Errorf("add service map: %w", err)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("add table %s: %w", table, err)
	}

	var services []nftables.SetElement
	for k, s := range topo.Services {
		if len(s.Pods) == 0 {
			continue
		}
		svc, err := addService(conn, t, k, s, podIPs)
		if err != nil {
			return fmt.Errorf("add service %s: %w", s.Name, err)
		}
		services = append(services, nftables.SetElement{
			Key:         serviceKeyOf(s.VIP, s.Port),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: svc},
		})
	}

	if err := conn.SetAddElements(ips, services); err != nil {
		return fmt.Errorf("fill service map: %w", err)
	}
	dispatch := conn.AddChain(&nftables.Chain{Table: t, Name: "services"})
	conn.AddRule(&nftables.Rule{Table: t, Chain: dispatch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_01},
		&expr.Payload{DestRegister: reg32_02, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: reg1, SetName: ips.Name, SetID: ips.ID, IsDestRegSet: true},
	}})
	for _, hook := range []struct {
		name string
		hook *nftables.ChainHook
	}{
		{"nat-prerouting", nftables.ChainHookPrerouting},
		{"nat-output", nftables.ChainHookOutput},
	} {
		c := conn.AddChain(&nftables.Chain{
			Table: t, Name: hook.name, Type: nftables.ChainTypeNAT,
			Hooknum: hook.hook, Priority: nftables.ChainPriorityNATDest,
		})
		conn.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: []expr.Any{
			&expr.Verdict{Kind: expr.VerdictJump, Chain: dispatch.Name},
		}})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("hook services: %w", err)
	}
	return nil
}

// addService adds, in one batch, the chain of the k-th service and its
// endpoint chains, and returns the service chain's name.
func addService(conn *nftables.Conn, t *nftables.Table, k int, s clusters.Service, podIPs map[string]netip.Addr) (string, error) {
	endpoints := &nftables.Set{
		Table: t, Anonymous: true, Constant: true, IsMap: true,
		KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict,
	}
	var elems []nftables.SetElement
	for j, pod := range s.Pods {
		ep := conn.AddChain(&nftables.Chain{Table: t, Name: "ep-" + strconv.Itoa(k) + "-" + strconv.Itoa(j)})
		conn.AddRule(&nftables.Rule{Table: t, Chain: ep, Exprs: dnat(podIPs[pod], s.TargetPort)})
		elems = append(elems, nftables.SetElement{
			Key:         binaryutil.NativeEndian.PutUint32(uint32(j)),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: ep.Name},
		})
	}
	if err := conn.AddSet(endpoints, elems); err != nil {
		return "", err
	}
	svc := conn.AddChain(&nftables.Chain{Table: t, Name: "svc-" + strconv.Itoa(k)})
	conn.AddRule(&nftables.Rule{Table: t, Chain: svc, Exprs: []expr.Any{
		&expr.Numgen{Register: reg1, Modulus: uint32(len(s.Pods)), Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: reg1, SetName: endpoints.Name, SetID: endpoints.ID, IsDestRegSet: true},
	}})
	return svc.Name, conn.Flush()
}

// serviceKeyOf builds a service-ips key: each field padded to 4 bytes.
func serviceKeyOf(vip netip.Addr, port int) []byte {
	a := vip.As4()
	key := make([]byte, 12)
	copy(key[0:4], a[:])
	key[4] = unix.IPPROTO_TCP
	copy(key[8:10], binaryutil.BigEndian.PutUint16(uint16(port)))
	return key
}

func dnat(ip netip.Addr, port int) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Immediate{Register: 1, Data: ip.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(uint16(port))},
		&expr.NAT{
			Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4,
			RegAddrMin: 1, RegProtoMin: 2, Specified: true,
		},
	}
}
