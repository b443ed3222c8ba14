package redirect

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

type cgroupProg struct {
	prog   string
	attach ebpf.AttachType
}

// AttachCgroup attaches the pod programs to the cgroup2 directory at path,
// which holds one pod's processes: connect4 and sockops. It
// refuses the cgroup2 root ([ErrRootCgroup]), anything outside a cgroup2
// mount, a cgroup attached before, and a cgroup nested with the proxy's
// (paths are compared as given, cleaned: pass them all from one base).
func (d *Datapath) AttachCgroup(path string) error {
	progs := []cgroupProg{
		{redirectProgBalanceConnect4, ebpf.AttachCGroupInet4Connect},
		{redirectProgTrackBalanced, ebpf.AttachCGroupSockOps},
	}
	if d.cfg.Mode == ModeProxy {
		progs = []cgroupProg{
			{redirectProgSteerConnect4, ebpf.AttachCGroupInet4Connect},
			{redirectProgTrackEstablished, ebpf.AttachCGroupSockOps},
		}
	}
	return d.attachCgroup("pod", path, progs, &d.podCgroups, &d.proxyCgroups)
}

// AttachProxyCgroup attaches the proxy programs to the cgroup2 directory at
// path, which holds the node proxy: sockops (to add the proxy's end of each
// steered connection, and of each of its connections to a local pod, to the
// sockhash) and getsockopt (SO_ORIGINAL_DST). It
// needs ModeProxy and refuses what AttachCgroup refuses.
func (d *Datapath) AttachProxyCgroup(path string) error {
	if d.cfg.Mode != ModeProxy {
		return fmt.Errorf("attach proxy cgroup %s: the datapath runs with the proxy off", path)
	}
	progs := []cgroupProg{
		{redirectProgTrackEstablished, ebpf.AttachCGroupSockOps},
		{redirectProgAnswerOrigDst, ebpf.AttachCGroupGetsockopt},
	}
	return d.attachCgroup("proxy", path, progs, &d.proxyCgroups, &d.podCgroups)
}

// AttachNodeCgroup attaches the pod programs to the cgroup2 directory at
// node, which holds every pod of the node and the node's own processes, so
// that pods and processes nobody announced are steered too; and, in
// ModeProxy, the proxy's getsockopt program to proxy, the node proxy's
// cgroup, which must lie below node: its sockets take the sockops program
// from node, where a second one would run it twice. It refuses what
// AttachCgroup refuses, and a node cgroup attached besides pod cgroups.
func (d *Datapath) AttachNodeCgroup(node, proxy string) error {
	if d.cfg.Mode != ModeProxy {
		return d.AttachCgroup(node)
	}
	nodeDir, err := runCgroup(node)
	if err != nil {
		return fmt.Errorf("attach node cgroup: %w", err)
	}
	dir, err := runCgroup(proxy)
	if err != nil {
		return fmt.Errorf("attach proxy cgroup: %w", err)
	}
	if !within(dir, nodeDir) {
		return fmt.Errorf("attach proxy cgroup %s: not below the node cgroup %s, whose sockops program it needs", dir, nodeDir)
	}
	if err := d.AttachCgroup(nodeDir); err != nil {
		return err
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: dir, Attach: ebpf.AttachCGroupGetsockopt, Program: d.coll.Programs[redirectProgAnswerOrigDst]})
	if err != nil {
		return fmt.Errorf("attach %s to proxy cgroup %s: %w", redirectProgAnswerOrigDst, dir, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.links = append(d.links, l)
	return nil
}

func (d *Datapath) attachCgroup(role, path string, progs []cgroupProg, mine, others *[]string) error {
	dir, err := runCgroup(path)
	if err != nil {
		return fmt.Errorf("attach %s cgroup: %w", role, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if slices.Contains(d.podCgroups, dir) || slices.Contains(d.proxyCgroups, dir) {
		return fmt.Errorf("attach %s cgroup %s: already attached", role, dir)
	}
	for _, o := range *others {
		if nested(dir, o) {
			return fmt.Errorf("attach %s cgroup %s: nested with %s, programs would run twice", role, dir, o)
		}
	}
	var added []link.Link
	for _, p := range progs {
		l, err := link.AttachCgroup(link.CgroupOptions{
			Path:    dir,
			Attach:  p.attach,
			Program: d.coll.Programs[p.prog],
		})
		if err != nil {
			for _, a := range added {
				err = errors.Join(err, a.Close())
			}
			return fmt.Errorf("attach %s to %s cgroup %s: %w", p.prog, role, dir, err)
		}
		added = append(added, l)
	}
	d.links = append(d.links, added...)
	*mine = append(*mine, dir)
	return nil
}

// AttachTC attaches the peer-redirect program to the ingress of the device
// with index ifindex, through TCX (Linux 6.6+). The index is resolved in the
// calling thread's network namespace: call it on a thread locked into the
// node's namespace. The error wraps [ebpf.ErrNotSupported] without TCX.
//
// Attach it where packets for local pods arrive: the node's uplink and the
// node-side veths of its pods. bpf_redirect_peer works only at ingress.
func (d *Datapath) AttachTC(ifindex int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tcIfindexes[ifindex] {
		return fmt.Errorf("attach tc to ifindex %d: already attached", ifindex)
	}
	l, err := link.AttachTCX(link.TCXOptions{
		Interface: ifindex,
		Program:   d.coll.Programs[redirectProgRedirectToPeer],
		Attach:    ebpf.AttachTCXIngress,
	})
	if err != nil {
		return fmt.Errorf("attach tc (tcx ingress) to ifindex %d: %w", ifindex, err)
	}
	d.links = append(d.links, l)
	d.tcIfindexes[ifindex] = true
	return nil
}
