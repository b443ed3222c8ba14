package netns

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/google/nftables"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/testutil"
)

// Residue finds what a case left in a cluster, processes, nftables tables
// and cgroup BPF programs, and nothing in a cluster as Create left it; Inject
// runs the next datapath's init containers in every pod.
func TestResidueAndInject(t *testing.T) {
	testutil.Privileged(t)
	spec := smallSpec(clusters.NewRunID())
	c, err := New(Options{}).Create(t.Context(), spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	cl := c.(*Cluster)
	t.Cleanup(func() { c.Delete(context.Background()) })
	residue := func() []string {
		t.Helper()
		got, err := cl.Residue(t.Context())
		if err != nil {
			t.Fatalf("Residue: %v", err)
		}
		return got
	}
	if got := residue(); len(got) != 0 {
		t.Fatalf("Residue of a new cluster = %q, want none (its own service tables are not residue)", got)
	}

	// An init container that adds a table in every pod.
	inject := clusters.Injection{PodContainers: []clusters.Container{
		{Name: "mesh-init", Init: true, NetAdmin: true, Args: []string{"agent", "table", "mb-test"}},
	}}
	if err := cl.Inject(t.Context(), inject); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	got := residue()
	for _, p := range cl.Topology().Pods {
		if want := "nftables table ip mb-test in pod " + p.Name; !slices.Contains(got, want) {
			t.Errorf("after Inject, Residue = %q, want it to hold %q: the init container ran in every pod", got, want)
		}
	}
	for _, p := range cl.Topology().Pods {
		if err := inNamespaceFD(p.NetNS, func(fd int) error {
			conn, err := nftables.New(nftables.WithNetNSFd(fd))
			if err != nil {
				return err
			}
			conn.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "mb-test"})
			return conn.Flush()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := residue(); len(got) != 0 {
		t.Fatalf("Residue with the tables removed = %q, want none", got)
	}

	// A process left running.
	p, err := c.Start(t.Context(), clusters.ProcSpec{Target: clusters.Target{Pod: "server-1"}, Name: "hang", Args: []string{"agent", "hang"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := residue(); len(got) != 1 || !strings.HasPrefix(got[0], fmt.Sprintf("process %d ", p.Pid())) {
		t.Errorf("Residue with a process left = %q, want the process", got)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Fatal(err)
	}

	// A cgroup BPF program left attached.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.CGroupSockAddr, AttachType: ebpf.AttachCGroupInet4Connect, License: "GPL",
		Instructions: asm.Instructions{asm.LoadImm(asm.R0, 1, asm.DWord), asm.Return()},
	})
	testutil.SkipIfNotSupported(t, err, "5.10")
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	pod, _ := cl.Topology().Pod("client-0")
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cl.cg.Dir(pod.Cgroup), Attach: ebpf.AttachCGroupInet4Connect, Program: prog})
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	got = residue()
	if len(got) != 1 || !strings.Contains(got[0], "CGroupInet4Connect BPF programs on cgroup") || !strings.HasSuffix(got[0], "/client-0") {
		t.Errorf("Residue with a connect4 program on client-0's cgroup = %q, want it", got)
	}
	l.Close()
	if got := residue(); len(got) != 0 {
		t.Errorf("Residue with the program detached = %q, want none", got)
	}
}
