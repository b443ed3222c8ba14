package redirect

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrRootCgroup is returned when asked to attach to the root of a cgroup2
// mount: programs there would act on every process of the host.
var ErrRootCgroup = errors.New("refusing the cgroup2 root: it holds every host process; pass the run's own cgroup")

// runCgroup cleans path and checks that it is a cgroup2 directory below,
// not at, the root of a cgroup2 mount. It asks the file system instead of
// matching the path against this process's mounts, and resolves no
// symbolic links: a node agent in a container reaches the node's cgroups
// through a mount of the node's root (internal/hostfs), which its own
// mount table does not describe as the node's does.
func runCgroup(path string) (string, error) {
	dir, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve cgroup %s: %w", path, err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return "", fmt.Errorf("resolve cgroup %s: %w", dir, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return "", fmt.Errorf("%s is not a cgroup2 directory", dir)
	}
	// The kernel's "..", not filepath.Dir: it leaves a mount at its root.
	var self, parent unix.Stat_t
	if err := unix.Stat(dir, &self); err != nil {
		return "", fmt.Errorf("resolve cgroup %s: %w", dir, err)
	}
	if err := unix.Stat(dir+"/..", &parent); err != nil {
		return "", fmt.Errorf("resolve cgroup %s: %w", dir, err)
	}
	if parent.Dev != self.Dev || parent.Ino == self.Ino {
		return "", fmt.Errorf("cgroup %s: %w", dir, ErrRootCgroup)
	}
	return dir, nil
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
