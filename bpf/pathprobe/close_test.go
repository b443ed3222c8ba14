package pathprobe

import (
	"testing"

	"github.com/meshbench/meshbench/internal/bpftest"
	"github.com/meshbench/meshbench/internal/testutil"
)

func TestCloseLeavesNothing(t *testing.T) {
	testutil.Privileged(t)
	ns := bpftest.NewNetns(t)
	ino, err := NetnsInode(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	before := bpftest.ProgramIDs(t)
	p, err := Load([]uint64{ino})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Attach(); err != nil {
		p.Close()
		t.Fatal(err)
	}
	names := []string{
		probeProgOnNetDevXmit, probeProgOnNetifReceiveSkb, probeProgOnSockSendLength,
		probeProgOnSockRecvLength, probeProgOnFibTableLookup,
	}
	ours := bpftest.NewObjects(t, before, names)
	if got, want := len(ours.Links), len(names); got != want {
		t.Errorf("found %d links to our programs before Close, want %d", got, want)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ours.WaitGone(t)
}
