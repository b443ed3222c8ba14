package hostfs

import (
	"fmt"
	"testing"
)

func TestDetectCgroups(t *testing.T) {
	host := `25 30 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
40 30 0:23 /sub /mnt/bound rw - cgroup2 cgroup2 rw
`
	// A container's own cgroup mounts come first; the node's are below /host.
	container := `50 40 0:23 /kubepods/x /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
51 40 0:24 /kubepods/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
60 41 0:23 / /host/sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
61 41 0:24 / /host/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
62 41 0:25 / /host/sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
`
	tests := []struct {
		name, mountinfo, root string
		want                  Cgroups
	}{
		{"host", host, "/", Cgroups{V2: "/sys/fs/cgroup/unified", Memory: "/sys/fs/cgroup/memory", CPUAcct: "/sys/fs/cgroup/cpu,cpuacct"}},
		{"node agent container", container, "/host", Cgroups{V2: "/host/sys/fs/cgroup/unified", Memory: "/host/sys/fs/cgroup/memory", CPUAcct: "/host/sys/fs/cgroup/cpu,cpuacct"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := detectCgroups(tt.mountinfo, tt.root)
			if err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Errorf("got %+v, want %+v", c, tt.want)
			}
		})
	}
	if _, err := detectCgroups("27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "/"); err == nil {
		t.Error("no cgroup2 mount: want an error")
	}
}

func TestV1Groups(t *testing.T) {
	const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	tests := []struct {
		name, mountinfo, self    string
		wantV2, wantMem, wantCPU string
	}{
		{"hybrid", hybrid, "4:memory:/session/abc\n2:cpu,cpuacct:/\n0::/\n",
			"/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory/session/abc", "/sys/fs/cgroup/cpu,cpuacct"},
		{"v2 only", "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n", "0::/user.slice/session-1.scope\n",
			"/sys/fs/cgroup", "", ""},
		{"v1 mount of a subtree", "35 31 0:32 /ctr /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
			"4:memory:/ctr/job\n0::/\n", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory/job", ""},
		{"only a subtree of cgroup2", "41 31 0:38 /docker/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/\n",
			"/sys/fs/cgroup", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := detectCgroups(tt.mountinfo, "/")
			if err != nil {
				t.Fatal(err)
			}
			mem, cpu := c.V1Groups(tt.self)
			if c.V2 != tt.wantV2 || mem != tt.wantMem || cpu != tt.wantCPU {
				t.Errorf("got v2 %q, memory %q, cpuacct %q; want %q, %q, %q", c.V2, mem, cpu, tt.wantV2, tt.wantMem, tt.wantCPU)
			}
		})
	}
}

func TestDetectCgroupsHere(t *testing.T) {
	c, err := DetectCgroups()
	if err != nil {
		t.Fatal(err)
	}
	if c.V2 == "" || c.Dir("x") != c.V2+"/x" {
		t.Errorf("cgroups %+v", c)
	}
}

func TestParseProcCgroup(t *testing.T) {
	v2, v1 := ParseProcCgroup("12:cpu,cpuacct:/a/b\n4:memory:/process_api/x/a/b\n1:name=systemd:/\n0::/a/b\n")
	if v2 != "/a/b" {
		t.Errorf("v2: got %q, want /a/b", v2)
	}
	want := map[string]string{"cpu": "/a/b", "cpuacct": "/a/b", "memory": "/process_api/x/a/b", "name=systemd": "/"}
	if fmt.Sprint(v1) != fmt.Sprint(want) {
		t.Errorf("v1: got %v, want %v", v1, want)
	}
}
