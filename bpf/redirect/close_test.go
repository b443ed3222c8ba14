package redirect

import (
	"net/netip"
	"testing"

	"github.com/meshbench/meshbench/internal/bpftest"
	"github.com/meshbench/meshbench/internal/testutil"
)

func TestCloseLeavesNothing(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		links int
	}{
		// connect4, sockops on pods and proxy, getsockopt, tcx; sk_msg
		// hangs off the sockhash without a link.
		{"proxy", Config{Mode: ModeProxy, NodeProxy: netip.MustParseAddrPort("127.0.0.1:15001")}, 5},
		// connect4 and sockops on pods, tcx.
		{"no proxy", Config{Mode: ModeNoProxy}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.Privileged(t)
			ns, peer := bpftest.NewNetns(t), bpftest.NewNetns(t)
			ifindex, _ := bpftest.Veth(t, ns, "uplink", netip.Prefix{}, peer, "eth0", netip.Prefix{})
			before := bpftest.ProgramIDs(t)
			d, err := Load(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				name string
				do   func() error
			}{
				{"attach pod cgroup", func() error { return d.AttachCgroup(bpftest.NewCgroup(t)) }},
				{"attach tc", func() error { return ns.Do(func() error { return d.AttachTC(ifindex) }) }},
				{"add service", func() error {
					return d.AddService(netip.MustParseAddrPort("10.96.0.1:80"), []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:8080")})
				}},
			}
			if tt.cfg.Mode == ModeProxy {
				steps = append(steps, struct {
					name string
					do   func() error
				}{"attach proxy cgroup", func() error { return d.AttachProxyCgroup(bpftest.NewCgroup(t)) }})
			}
			for _, s := range steps {
				if err := s.do(); err != nil {
					d.Close()
					t.Fatalf("%s: %v", s.name, err)
				}
			}

			ours := bpftest.NewObjects(t, before, programsFor[tt.cfg.Mode])
			if got, want := len(ours.Programs), len(programsFor[tt.cfg.Mode]); got != want {
				t.Errorf("found %d of our programs before Close, want %d", got, want)
			}
			if got := len(ours.Links); got != tt.links {
				t.Errorf("found %d links to our programs before Close, want %d", got, tt.links)
			}
			if err := d.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			ours.WaitGone(t)
		})
	}
}
