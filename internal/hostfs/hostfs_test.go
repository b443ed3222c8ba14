package hostfs

import "testing"

func TestDetectCgroups(t *testing.T) {
	mi := `25 30 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
40 30 0:23 /sub /mnt/bound rw - cgroup2 cgroup2 rw
`
	c, err := detectCgroups(mi)
	if err != nil {
		t.Fatal(err)
	}
	want := Cgroups{V2: "/proc/1/root/sys/fs/cgroup/unified", Memory: "/proc/1/root/sys/fs/cgroup/memory", CPUAcct: "/proc/1/root/sys/fs/cgroup/cpu,cpuacct"}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if got := c.Dir("a/b"); got != want.V2+"/a/b" {
		t.Errorf("Dir: %s", got)
	}
	if _, err := detectCgroups("27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"); err == nil {
		t.Error("no cgroup2 mount: want an error")
	}
}

func TestDetectCgroupsHere(t *testing.T) {
	c, err := DetectCgroups()
	if err != nil {
		t.Fatal(err)
	}
	if c.V2 == "" {
		t.Error("no cgroup2 mount found")
	}
}
