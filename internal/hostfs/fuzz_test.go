package hostfs

import (
	"strings"
	"testing"
)

// FuzzParseMountinfo feeds the mountinfo and /proc/PID/cgroup parsers, and
// the cgroup detection over them, arbitrary text: they must not panic, and
// what they return must come from the input.
func FuzzParseMountinfo(f *testing.F) {
	f.Add("24 1 0:22 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n25 1 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
		"12:memory:/a\n0::/b\n")
	f.Add(`30 24 0:22 /sub\040dir /mnt/x\011y rw - cgroup2 none rw`, "0::/\n")
	f.Add("", "")
	f.Add(" - - - - - - - ", "::\n:::\n")
	f.Fuzz(func(t *testing.T, mountinfo, procCgroup string) {
		for _, m := range ParseMountinfo(mountinfo) {
			if m.FSType == "" || strings.Contains(m.FSType, " ") {
				t.Errorf("mount %+v: file system type %q is not one field of the input", m, m.FSType)
			}
		}
		v2, v1 := ParseProcCgroup(procCgroup)
		if v2 != "" && !strings.Contains(procCgroup, v2) {
			t.Errorf("cgroup v2 path %q is not in the input", v2)
		}
		for ctl := range v1 {
			if !strings.Contains(procCgroup, ctl) {
				t.Errorf("controller %q is not in the input", ctl)
			}
		}
		c, err := detectCgroups(mountinfo, "/")
		if err == nil {
			if c.V2 == "" {
				t.Error("detectCgroups found no cgroup2 mount but no error")
			}
			c.V1Groups(procCgroup)
		}
	})
}
