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

// Cgroups are the node's cgroup mounts, as paths a node agent can open. It
// is the one place that finds them: the cgroup2 mount is wherever
// mountinfo says, never assumed to be /sys/fs/cgroup or .../unified.
type Cgroups struct {
	// V2 is the cgroup2 mount; cgroup paths in clusters.Topology are
	// relative to it.
	V2 string
	// Memory and CPUAcct are the cgroup v1 hierarchies with those
	// controllers; empty where the node has none.
	Memory, CPUAcct string
	// memoryRoot and cpuacctRoot are the groups mounted at Memory and
	// CPUAcct where that is a subtree (a container's own mounts), else "".
	memoryRoot, cpuacctRoot string
}

// DetectCgroups reads the node's cgroup mounts, as a node agent reaches
// them (below Root), from /proc/self/mountinfo.
func DetectCgroups() (Cgroups, error) { return DetectCgroupsIn(Root()) }

// DetectCgroupsIn reads the cgroup mounts at or below root from
// /proc/self/mountinfo: "/" for this host's own, whatever directories it
// has.
func DetectCgroupsIn(root string) (Cgroups, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Cgroups{}, fmt.Errorf("read the node's mounts: %w", err)
	}
	return detectCgroups(string(mi), root)
}

// detectCgroups picks the cgroup mounts at or below root, preferring whole
// file systems to bind mounts of a subtree.
func detectCgroups(mountinfo, root string) (Cgroups, error) {
	var c Cgroups
	// pick sets *point to m unless it already holds a whole mount.
	pick := func(point, groupRoot *string, m Mount) {
		if *point != "" && (*groupRoot == "" || m.Root != "/") {
			return
		}
		*point, *groupRoot = m.Point, ""
		if m.Root != "/" {
			*groupRoot = m.Root
		}
	}
	var v2Root string
	for _, m := range ParseMountinfo(mountinfo) {
		if root != "/" && m.Point != root && !strings.HasPrefix(m.Point, root+"/") {
			continue
		}
		switch m.FSType {
		case "cgroup2":
			pick(&c.V2, &v2Root, m)
		case "cgroup":
			if slices.Contains(m.SuperOpts, "memory") {
				pick(&c.Memory, &c.memoryRoot, m)
			}
			if slices.Contains(m.SuperOpts, "cpuacct") {
				pick(&c.CPUAcct, &c.cpuacctRoot, m)
			}
		}
	}
	if c.V2 == "" {
		return c, errors.New("detect the node's cgroups: cgroup2 is not mounted")
	}
	return c, nil
}

// V1Groups returns the directories of a process's own v1 memory and cpuacct
// groups, given its /proc/PID/cgroup file; each is empty where the node has
// no such hierarchy or the process is in none of its groups.
func (c Cgroups) V1Groups(procCgroup string) (memory, cpuacct string) {
	_, groups := ParseProcCgroup(procCgroup)
	dir := func(point, groupRoot, ctl string) string {
		rel, ok := groups[ctl]
		if point == "" || !ok {
			return ""
		}
		if groupRoot != "" {
			rel = strings.TrimPrefix(rel, groupRoot)
		}
		return filepath.Join(point, rel)
	}
	return dir(c.Memory, c.memoryRoot, "memory"), dir(c.CPUAcct, c.cpuacctRoot, "cpuacct")
}

// Mount is one line of a mountinfo file (proc(5)).
type Mount struct {
	// Root is the mounted directory of the file system; Point where it is
	// mounted.
	Root, Point string
	FSType      string
	SuperOpts   []string
}

// ParseMountinfo reads the lines of a /proc/PID/mountinfo file.
func ParseMountinfo(s string) []Mount {
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	var out []Mount
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 {
			continue
		}
		out = append(out, Mount{
			Root:      unescape.Replace(f[3]),
			Point:     unescape.Replace(f[4]),
			FSType:    f[sep+1],
			SuperOpts: strings.Split(f[sep+3], ","),
		})
	}
	return out
}

// ParseProcCgroup parses the lines "hierarchy-id:controller-list:path" of
// a /proc/PID/cgroup file (cgroups(7)): the process's cgroup v2 path and
// its v1 group per controller.
func ParseProcCgroup(s string) (v2 string, v1 map[string]string) {
	v1 = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		parts := strings.SplitN(line, ":", 3)
		switch {
		case len(parts) != 3:
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		default:
			for _, ctl := range strings.Split(parts[1], ",") {
				v1[ctl] = parts[2]
			}
		}
	}
	return v2, v1
}

// Dir returns the directory of a cgroup v2 path relative to the mount.
func (c Cgroups) Dir(rel string) string { return filepath.Join(c.V2, rel) }
