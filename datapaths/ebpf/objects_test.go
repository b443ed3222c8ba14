package ebpf

import (
	"io/fs"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/meshbench/meshbench/internal/bpftest"
)

// cgroupIDs returns the IDs (cgroup2 inode numbers) of dir and every cgroup
// below it.
func cgroupIDs(tb testing.TB, dir string) map[uint64]bool {
	tb.Helper()
	ids := make(map[uint64]bool)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		ids[info.Sys().(*syscall.Stat_t).Ino] = true
		return nil
	})
	if err != nil {
		tb.Fatalf("list cgroups under %s: %v", dir, err)
	}
	return ids
}

// runObjects are the BPF objects a datapath loaded for one cluster.
type runObjects struct {
	progs []ebpf.ProgramID
	maps  []ebpf.MapID
	links []link.ID
	// foreign are cgroup links of these programs to cgroups outside the run.
	foreign []link.ID
}

// findRunObjects finds the datapath's objects without knowing their IDs,
// though other tests on the machine may load the same programs: the
// programs linked to the run's cgroups, the maps they use, every program
// loaded since before that uses one of those maps (all of a datapath's
// programs share its counters), and every link to those programs.
func findRunObjects(tb testing.TB, before map[ebpf.ProgramID]bool, run map[uint64]bool) runObjects {
	tb.Helper()
	type linkInfo struct {
		id   link.ID
		info *link.Info
	}
	var links []linkInfo
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			tb.Fatalf("link %d info: %v", it.ID, err)
		}
		links = append(links, linkInfo{it.ID, info})
	}
	if err := it.Err(); err != nil {
		tb.Fatalf("list BPF links: %v", err)
	}

	var o runObjects
	for _, l := range links {
		if cg := l.info.Cgroup(); cg != nil && run[cg.CgroupId] && !before[l.info.Program] {
			for _, m := range programMaps(tb, l.info.Program) {
				if !slices.Contains(o.maps, m) {
					o.maps = append(o.maps, m)
				}
			}
		}
	}
	for id := range bpftest.ProgramIDs(tb) {
		if before[id] {
			continue
		}
		for _, m := range programMaps(tb, id) {
			if slices.Contains(o.maps, m) {
				o.progs = append(o.progs, id)
				break
			}
		}
	}
	for _, l := range links {
		if !slices.Contains(o.progs, l.info.Program) {
			continue
		}
		o.links = append(o.links, l.id)
		if cg := l.info.Cgroup(); cg != nil && !run[cg.CgroupId] {
			o.foreign = append(o.foreign, l.id)
		}
	}
	return o
}

// programMaps returns the maps program id uses; none if it is gone.
func programMaps(tb testing.TB, id ebpf.ProgramID) []ebpf.MapID {
	tb.Helper()
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return nil // unloaded meanwhile
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		tb.Fatalf("program %d info: %v", id, err)
	}
	maps, _ := info.MapIDs()
	return maps
}

// remaining counts the objects of o that still exist.
func (o runObjects) remaining() (progs, maps, links int) {
	for _, id := range o.progs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			progs++
		}
	}
	for _, id := range o.maps {
		if m, err := ebpf.NewMapFromID(id); err == nil {
			m.Close()
			maps++
		}
	}
	for _, id := range o.links {
		if l, err := link.NewFromID(id); err == nil {
			l.Close()
			links++
		}
	}
	return progs, maps, links
}

// waitGone fails tb unless every object of o is freed within a few seconds
// (the kernel frees programs and maps after an RCU grace period).
func (o runObjects) waitGone(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		progs, maps, links := o.remaining()
		if progs+maps+links == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Errorf("after Uninstall, still present: %d programs, %d maps, %d links", progs, maps, links)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
