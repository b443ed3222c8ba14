package bpftest

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// ProgramIDs returns the IDs of all BPF programs loaded right now.
func ProgramIDs(tb testing.TB) map[ebpf.ProgramID]bool {
	tb.Helper()
	ids := make(map[ebpf.ProgramID]bool)
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return ids
		}
		if err != nil {
			tb.Fatalf("list BPF programs: %v", err)
		}
		ids[next], id = true, next
	}
}

// Objects are kernel BPF objects found by ID.
type Objects struct {
	Programs []ebpf.ProgramID
	Maps     []ebpf.MapID
	Links    []link.ID
}

// NewObjects finds the programs loaded since before whose names are among
// names (other tests on the machine load programs too), the maps they use
// and the links attaching them.
func NewObjects(tb testing.TB, before map[ebpf.ProgramID]bool, names []string) Objects {
	tb.Helper()
	var o Objects
	for id := range ProgramIDs(tb) {
		if before[id] {
			continue
		}
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // unloaded meanwhile: not ours to worry about
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			tb.Fatalf("program %d info: %v", id, err)
		}
		if !slices.Contains(names, info.Name) {
			continue
		}
		o.Programs = append(o.Programs, id)
		if maps, ok := info.MapIDs(); ok {
			for _, m := range maps {
				if !slices.Contains(o.Maps, m) {
					o.Maps = append(o.Maps, m)
				}
			}
		}
	}
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			tb.Fatalf("link %d info: %v", it.ID, err)
		}
		if slices.Contains(o.Programs, info.Program) {
			o.Links = append(o.Links, it.ID)
		}
	}
	if err := it.Err(); err != nil {
		tb.Fatalf("list BPF links: %v", err)
	}
	return o
}

// Remaining returns the objects of o that still exist.
func (o Objects) Remaining() Objects {
	var r Objects
	for _, id := range o.Programs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			r.Programs = append(r.Programs, id)
		}
	}
	for _, id := range o.Maps {
		if m, err := ebpf.NewMapFromID(id); err == nil {
			m.Close()
			r.Maps = append(r.Maps, id)
		}
	}
	for _, id := range o.Links {
		if l, err := link.NewFromID(id); err == nil {
			l.Close()
			r.Links = append(r.Links, id)
		}
	}
	return r
}

// WaitGone fails tb unless every object of o is freed within a few seconds
// (the kernel frees programs and maps after an RCU grace period).
func (o Objects) WaitGone(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := o.Remaining()
		if len(r.Programs)+len(r.Maps)+len(r.Links) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Errorf("after Close, still present: programs %v, maps %v, links %v", r.Programs, r.Maps, r.Links)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
