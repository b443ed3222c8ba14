package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/nsenter"
	"github.com/meshbench/meshbench/internal/testutil"
)

// redirectPort adds an nftables rule in ns that redirects locally generated TCP
// connections to port `from` to port `to`, as the sidecar datapath does.
func redirectPort(tb testing.TB, nsPath string, from, to uint16) {
	tb.Helper()
	ns, err := vnetns.GetFromPath(nsPath)
	if err != nil {
		tb.Fatalf("open netns: %v", err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		tb.Fatalf("nftables in netns: %v", err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "meshbench_test"})
	chain := c.AddChain(&nftables.Chain{
		Name: "output", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest,
	})
	c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(from)},
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(to)},
		&expr.Redir{RegisterProtoMin: 1},
	}})
	if err := c.Flush(); err != nil {
		tb.Fatalf("add redirect rule: %v", err)
	}
}

func TestOriginalDstNetfilter(t *testing.T) {
	testutil.Privileged(t)
	// The server lives on the host's loopback; the proxy's handlers run on
	// other threads, in the host namespace, so they reach it there.
	srv := newEchoServer(t)
	// learned maps each client's address to what the proxy learned for it.
	var learned sync.Map
	origDst := func(c *net.TCPConn) (netip.AddrPort, error) {
		dst, err := OriginalDst(c)
		learned.Store(c.RemoteAddr().String(), dst)
		return dst, err
	}
	learnedFor := func(tb testing.TB, client net.Conn) netip.AddrPort {
		tb.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if dst, ok := learned.Load(client.LocalAddr().String()); ok {
				return dst.(netip.AddrPort)
			}
		}
		tb.Fatalf("the proxy never looked up the destination of %s", client.LocalAddr())
		return netip.AddrPort{}
	}
	var (
		p                    *Proxy
		redirected, straight net.Conn
	)
	// The proxy listens, and the client dials, in a namespace of their own.
	ns := testutil.NetNS(t)
	p = startProxyIn(t, ns, Config{Mode: L7, Outbound: loopback, OrigDst: origDst})
	redirectPort(t, ns, srv.addr.Port(), p.Addrs().Outbound.Port())
	err := nsenter.Do(ns, func() (err error) {
		if redirected, err = net.Dial("tcp4", srv.addr.String()); err != nil {
			return fmt.Errorf("dial %s: %w", srv.addr, err)
		}
		if straight, err = net.Dial("tcp4", p.Addrs().Outbound.String()); err != nil {
			redirected.Close()
			return fmt.Errorf("dial the proxy: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("in netns: %v", err)
	}
	defer redirected.Close()
	defer straight.Close()

	t.Run("redirected", func(t *testing.T) {
		redirected.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(redirected, "GET /redirected HTTP/1.1\r\nHost: %s\r\n\r\n", srv.addr)
		resp, err := http.ReadResponse(bufio.NewReader(redirected), nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		resp.Body.Close()
		if got := learnedFor(t, redirected); got != srv.addr {
			t.Errorf("proxy learned original destination %s, want %s", got, srv.addr)
		}
		waitStats(t, p, map[string]uint64{StatRequests: 1, UpstreamKey(srv.addr, "requests"): 1})
	})
	t.Run("not redirected", func(t *testing.T) {
		straight.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(straight, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(straight), nil); err == nil {
			t.Errorf("proxy answered a connection nobody redirected")
		}
		if got := learnedFor(t, straight); got != p.Addrs().Outbound {
			t.Errorf("SO_ORIGINAL_DST of a plain connection: got %s, want the listener %s", got, p.Addrs().Outbound)
		}
		waitStats(t, p, map[string]uint64{StatErrors: 1})
	})
}

func TestUpstreamMark(t *testing.T) {
	testutil.Privileged(t)
	srv := newEchoServer(t)
	p, err := New(Config{Outbound: loopback, Mark: DefaultMark})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	up, err := p.dial(context.Background(), p.routes.lookup(srv.addr, false))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer p.closeUp(up)
	raw, err := up.raw.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatalf("raw conn: %v", err)
	}
	var mark int
	var gerr error
	if err := raw.Control(func(fd uintptr) { mark, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK) }); err != nil || gerr != nil {
		t.Fatalf("get SO_MARK: %v, %v", err, gerr)
	}
	if mark != DefaultMark {
		t.Errorf("got SO_MARK %#x, want %#x", mark, DefaultMark)
	}
}
