// Package hostfs finds a node's file systems from a node agent: a process
// that runs either on the host itself (the netns provider) or in a
// privileged container sharing the host's PID namespace (the kube
// provider's node agents). In both, /proc/1 is the node's init process, so
// /proc/1/mountinfo lists the node's mounts and /proc/1/root reaches them.
package hostfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Root is the node's root directory as a node agent reaches it.
const Root = "/proc/1/root"

// Cgroups are the node's cgroup mounts, as paths a node agent can open.
type Cgroups struct {
	// V2 is the cgroup2 mount; cgroup paths in clusters.Topology are
	// relative to it.
	V2 string
	// Memory and CPUAcct are the cgroup v1 hierarchies with those
	// controllers; empty where the node has none.
	Memory, CPUAcct string
}

// DetectCgroups reads the node's mounts from /proc/1/mountinfo.
func DetectCgroups() (Cgroups, error) {
	mi, err := os.ReadFile("/proc/1/mountinfo")
	if err != nil {
		return Cgroups{}, fmt.Errorf("read the node's mounts: %w", err)
	}
	return detectCgroups(string(mi))
}

func detectCgroups(mountinfo string) (Cgroups, error) {
	var c Cgroups
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 || f[3] != "/" {
			continue
		}
		point := filepath.Join(Root, unescape.Replace(f[4]))
		opts := strings.Split(f[sep+3], ",")
		switch f[sep+1] {
		case "cgroup2":
			if c.V2 == "" {
				c.V2 = point
			}
		case "cgroup":
			if slices.Contains(opts, "memory") {
				c.Memory = point
			}
			if slices.Contains(opts, "cpuacct") {
				c.CPUAcct = point
			}
		}
	}
	if c.V2 == "" {
		return c, errors.New("detect the node's cgroups: cgroup2 is not mounted")
	}
	return c, nil
}

// Dir returns the directory of a cgroup v2 path relative to the mount.
func (c Cgroups) Dir(rel string) string { return filepath.Join(c.V2, rel) }
