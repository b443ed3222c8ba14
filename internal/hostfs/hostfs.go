// Package hostfs finds a node's file systems from a node agent: a process
// that runs either on the host itself (the netns provider) or in a
// privileged container of the kube provider's node agents, which mount the
// node's root directory at ContainerRoot. In the first, the node's mounts
// are the process's own; in the second, they are those below
// ContainerRoot.
package hostfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ContainerRoot is where the kube provider's node agents mount the node's
// root directory (a hostPath volume with host-to-container propagation).
const ContainerRoot = "/host"

// Root returns the node's root directory as this process reaches it.
func Root() string {
	if fi, err := os.Stat(ContainerRoot); err == nil && fi.IsDir() {
		return ContainerRoot
	}
	return "/"
}

// Cgroups are the node's cgroup mounts, as paths a node agent can open.
type Cgroups struct {
	// V2 is the cgroup2 mount; cgroup paths in clusters.Topology are
	// relative to it.
	V2 string
	// Memory and CPUAcct are the cgroup v1 hierarchies with those
	// controllers; empty where the node has none.
	Memory, CPUAcct string
}

// DetectCgroups reads the node's cgroup mounts from /proc/self/mountinfo.
func DetectCgroups() (Cgroups, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Cgroups{}, fmt.Errorf("read the node's mounts: %w", err)
	}
	return detectCgroups(string(mi), Root())
}

// detectCgroups picks the whole (not bind-mounted subtree) cgroup mounts
// at or below root.
func detectCgroups(mountinfo, root string) (Cgroups, error) {
	var c Cgroups
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 || f[3] != "/" {
			continue
		}
		point := unescape.Replace(f[4])
		if root != "/" && point != root && !strings.HasPrefix(point, root+"/") {
			continue
		}
		opts := strings.Split(f[sep+3], ",")
		switch f[sep+1] {
		case "cgroup2":
			if c.V2 == "" {
				c.V2 = point
			}
		case "cgroup":
			if slices.Contains(opts, "memory") && c.Memory == "" {
				c.Memory = point
			}
			if slices.Contains(opts, "cpuacct") && c.CPUAcct == "" {
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
