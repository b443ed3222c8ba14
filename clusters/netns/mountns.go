package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Pod processes get a private mount namespace, made on the spawner thread
// just before it forks them and left as it returns: its root is an empty,
// read-only tmpfs holding only the meshbench executable and the system's
// shared libraries (read-only, for a cgo build), a /proc, and the
// process's state directory (ProcSpec.StateDir, writable), each bound from
// the host at the same path. The namespace ends with the
// process, so nothing is left to clean up. Node agents stay in the host's
// mount namespace: they read cgroups, /proc and the namespaces' bind
// mounts of the whole node. The cost agent's accounting does not change:
// the parent clones pod processes into their cgroups, and their memory and
// CPU are read from the node's /proc and cgroup files.

// privateRoot moves the calling thread, locked, into a new mount namespace
// whose root holds exe, /proc and, if not empty, the directory state
// (created on the host if missing). The caller forks, then calls
// hostMounts.restore.
func privateRoot(exe, state string) (err error) {
	// Clone the mounts to bind before the tmpfs hides them: a detached
	// clone can be attached in the new namespace, a path of the old one
	// cannot be bound there.
	exeTree, err := cloneMount(exe)
	if err != nil {
		return err
	}
	defer unix.Close(exeTree)
	stateTree := -1
	if state != "" {
		if err := os.MkdirAll(state, 0o700); err != nil {
			return fmt.Errorf("make state directory: %w", err)
		}
		if stateTree, err = cloneMount(state); err != nil {
			return err
		}
		defer unix.Close(stateTree)
	}
	libs, err := cloneLibs()
	if err != nil {
		return err
	}
	defer func() {
		for _, l := range libs {
			if l.tree >= 0 {
				unix.Close(l.tree)
			}
		}
	}()
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root, err := mountPoint()
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("mount root tmpfs: %w", err)
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if err := attach(exeTree, filepath.Join(root, exe), false, flags|unix.MS_RDONLY); err != nil {
		return err
	}
	if stateTree >= 0 {
		if err := attach(stateTree, filepath.Join(root, state), true, flags|unix.MS_NOEXEC); err != nil {
			return err
		}
	}
	for _, l := range libs {
		if err := l.attach(root, flags|unix.MS_RDONLY); err != nil {
			return err
		}
	}
	proc := filepath.Join(root, "proc")
	if err := os.Mkdir(proc, 0o555); err != nil {
		return fmt.Errorf("make /proc: %w", err)
	}
	if err := unix.Mount("proc", proc, "proc", flags|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	old := filepath.Join(root, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return fmt.Errorf("make old root: %w", err)
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("enter new root: %w", err)
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return fmt.Errorf("remove old root: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_BIND|uintptr(flags), ""); err != nil {
		return fmt.Errorf("make root read-only: %w", err)
	}
	return nil
}

// mountPoint picks the directory the new root's tmpfs goes on: any existing
// one serves, since the mount is seen in the new namespace only and what
// it would hide is cloned before.
func mountPoint() (string, error) {
	for _, d := range []string{os.TempDir(), "/tmp", "/run", "/mnt"} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d, nil
		}
	}
	return "", errors.New("find a directory for the private root: none of $TMPDIR, /tmp, /run and /mnt exists")
}

// libPaths are where a dynamically linked executable (cgo's, by default)
// finds its loader and libraries; they are shown read-only.
var libPaths = []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache"}

// lib is one of libPaths as found on the host: a symbolic link to copy or
// a detached mount to attach.
type lib struct {
	path, link string
	dir        bool
	tree       int
}

func cloneLibs() ([]lib, error) {
	var out []lib
	for _, p := range libPaths {
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("look at %s: %w", p, err)
		}
		l := lib{path: p, dir: fi.IsDir(), tree: -1}
		if fi.Mode()&os.ModeSymlink != 0 {
			if l.link, err = os.Readlink(p); err != nil {
				return out, fmt.Errorf("read link %s: %w", p, err)
			}
		} else if l.tree, err = cloneMount(p); err != nil {
			return out, err
		}
		out = append(out, l)
	}
	return out, nil
}

func (l lib) attach(root string, flags uintptr) error {
	target := filepath.Join(root, l.path)
	if l.link != "" {
		if err := os.Symlink(l.link, target); err != nil {
			return fmt.Errorf("link %s: %w", target, err)
		}
		return nil
	}
	return attach(l.tree, target, l.dir, flags)
}

// cloneMount returns a detached bind mount of path (open_tree(2)).
func cloneMount(path string) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("clone the mount of %s: %w", path, err)
	}
	return fd, nil
}

// attach mounts the detached tree onto target, made as a directory or an
// empty file, and remounts it with flags.
func attach(tree int, target string, dir bool, flags uintptr) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("make %s: %w", target, err)
	}
	var err error
	if dir {
		err = os.Mkdir(target, 0o700)
	} else {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL, 0o555); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("make %s: %w", target, err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind %s: %w", target, err)
	}
	if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|flags, ""); err != nil {
		return fmt.Errorf("restrict %s: %w", target, err)
	}
	return nil
}

// hostMounts is the host's mount namespace, to which the spawner thread
// returns.
type hostMounts struct{ fd int }

func openHostMounts() (hostMounts, error) {
	fd, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return hostMounts{fd: -1}, fmt.Errorf("open the host's mount namespace: %w", err)
	}
	return hostMounts{fd: fd}, nil
}

// restore puts the calling thread back into the host's mount namespace,
// at its root.
func (h hostMounts) restore() error {
	if h.fd < 0 {
		return errors.New("return to the host's mount namespace: not open")
	}
	if err := unix.Setns(h.fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("return to the host's mount namespace: %w", err)
	}
	return nil
}

func (h hostMounts) close() {
	if h.fd >= 0 {
		unix.Close(h.fd)
	}
}
