package netns

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
)

// Least privilege. Every process the cluster starts is root (uid 0) in the
// host's file system, but keeps only the capabilities its container or
// ProcSpec grants: the spawner thread sets SECBIT_NOROOT, so that executing
// as root grants nothing by itself, and no_new_privs, so that no set-uid or
// file-capability program can add any; each child then holds exactly its
// ambient capabilities. Processes stay uid 0: the executable often lies in
// a directory only root may enter (go test's, ~root), and the proxies
// write the files they are handed into directories root made. A pod
// process sees little of the host's file system anyway (mountns.go).

// secbitNoRoot is SECBIT_NOROOT (linux/securebits.h), which x/sys/unix
// does not define.
const secbitNoRoot = 1 << 0

// dropRootPrivileges makes the calling (locked) thread's children exec
// with only the ambient capabilities they are given.
func dropRootPrivileges() error {
	bits, err := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("read securebits: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, uintptr(bits|secbitNoRoot), 0, 0, 0); err != nil {
		return fmt.Errorf("set SECBIT_NOROOT: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return nil
}

// capNumbers maps the capabilities agents may be given to their numbers.
var capNumbers = map[clusters.Capability]uintptr{
	clusters.CapNetAdmin:  unix.CAP_NET_ADMIN,
	clusters.CapNetRaw:    unix.CAP_NET_RAW,
	clusters.CapBPF:       unix.CAP_BPF,
	clusters.CapPerfmon:   unix.CAP_PERFMON,
	clusters.CapSysAdmin:  unix.CAP_SYS_ADMIN,
	clusters.CapSysPtrace: unix.CAP_SYS_PTRACE,
}

// netAdminCaps are what a container with NetAdmin gets, as on Kubernetes.
var netAdminCaps = []clusters.Capability{clusters.CapNetAdmin, clusters.CapNetRaw}

// ambientCaps returns the capability numbers of a process: spec.Caps and
// those of the injected container it runs in.
func (c *Cluster) ambientCaps(spec clusters.ProcSpec) ([]uintptr, error) {
	caps := slices.Clone(spec.Caps)
	if c.netAdmin[spec.Container] {
		caps = append(caps, netAdminCaps...)
	}
	var out []uintptr
	for _, cp := range caps {
		n, ok := capNumbers[cp]
		if !ok {
			return nil, fmt.Errorf("capability %q is not one an agent may be given", cp)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}
