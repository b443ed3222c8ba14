package redirect

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrRootCgroup is returned when asked to attach to the root of a cgroup2
// mount: programs there would act on every process of the host.
var ErrRootCgroup = errors.New("refusing the cgroup2 root: it holds every host process; pass the run's own cgroup")

// runCgroup resolves path and checks that it is a cgroup2 directory below,
// not at, the root of a cgroup2 mount.
func runCgroup(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve cgroup %s: %w", path, err)
	}
	dir, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("resolve cgroup %s: %w", path, err)
	}
	mounts, err := cgroup2Mounts("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, m := range mounts {
		if dir == m {
			return "", fmt.Errorf("cgroup %s: %w", dir, ErrRootCgroup)
		}
	}
	for _, m := range mounts {
		if within(dir, m) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("cgroup %s is not inside a cgroup2 mount (found %s)", dir, strings.Join(mounts, ", "))
}

// within reports whether dir lies below root.
func within(dir, root string) bool {
	return strings.HasPrefix(dir, strings.TrimSuffix(root, "/")+"/")
}

// nested reports whether a and b are the same directory or one holds the
// other.
func nested(a, b string) bool {
	return a == b || within(a, b) || within(b, a)
}

// cgroup2Mounts returns the mount points of cgroup2 file systems listed in
// a mountinfo file.
func cgroup2Mounts(mountinfo string) ([]string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("find cgroup2 mounts: %w", err)
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "36 35 98:0 / /mnt rw,noatime master:1 - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(postFields) < 1 || postFields[0] != "cgroup2" {
			continue
		}
		mounts = append(mounts, unescapeMountinfo(fields[4]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("find cgroup2 mounts: read %s: %w", mountinfo, err)
	}
	if len(mounts) == 0 {
		return nil, errors.New("find cgroup2 mounts: no cgroup2 file system is mounted")
	}
	return mounts, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) the kernel
// writes for special characters in mount points.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
