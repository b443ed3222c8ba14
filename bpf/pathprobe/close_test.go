package pathprobe_test

import (
	"os"
	"testing"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/internal/bpftest"
	"github.com/meshbench/meshbench/internal/testutil"
)

func TestCloseLeavesNothing(t *testing.T) {
	testutil.Privileged(t)
	ns := bpftest.NewNetns(t)
	ino, err := pathprobe.NetnsInode(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pathprobe.Load([]pathprobe.Netns{{Inode: ino}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Attach(); err != nil {
		p.Close()
		t.Fatal(err)
	}
	// Through this process's file descriptors: probes that other test
	// processes load at the same time do not count.
	ours := objectsOf(t, os.Getpid())
	if got, want := len(ours.Links), len(pathprobe.ProgramNames); got != want {
		t.Errorf("found %d links to our programs before Close, want %d", got, want)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ours.WaitGone(t)
}
