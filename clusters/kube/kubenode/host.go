package kubenode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/hostfs"
)

// HostRole is the node-agent role that runs another agent role as a
// process started on the node outside Kubernetes runs (by ssh, systemd or
// an attacker): in the node's network namespace, which the node agent
// shares, but in a cgroup v2 of its own outside the kubelet's pod cgroup
// root, [HostCgroup]. The child is created in that cgroup (clone3
// CLONE_INTO_CGROUP), so that it never runs in the node agent's pod; it
// dies with the role (parent-death signal), and the role removes the
// cgroup when the child has exited. Only the cgroup v2 hierarchy changes:
// on a node with cgroup v1 hierarchies besides (hybrid), the child stays
// in the node agent container's v1 groups.
const HostRole = "kube-host"

// HostOptions are the host role's flags.
type HostOptions struct {
	// RunID names the run, whose host processes share one parent cgroup.
	RunID string
	// Name is the process's cgroup below the run's, unique in the run.
	Name string
	// Command runs the child: the arguments of the meshbench executable
	// ("agent", a role, its flags).
	Command []string
}

// Args renders the arguments of the meshbench executable that run the
// host role with o.
func (o HostOptions) Args() []string {
	return append([]string{"agent", HostRole, "-run", o.RunID, "-name", o.Name, "--"}, o.Command...)
}

func parseHostOptions(args []string, stderr io.Writer) (HostOptions, error) {
	var o HostOptions
	fs := flag.NewFlagSet(HostRole, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.RunID, "run", "", "the run's `ID`")
	fs.StringVar(&o.Name, "name", "", "the process's cgroup `NAME` below the run's")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	o.Command = fs.Args()
	switch {
	case o.RunID == "" || strings.ContainsAny(o.RunID, "/."):
		return o, fmt.Errorf("parse flags: -run %q: want a run id", o.RunID)
	case o.Name == "" || strings.ContainsAny(o.Name, "/.") || o.Name == "..":
		return o, fmt.Errorf("parse flags: -name %q: want one path element", o.Name)
	case len(o.Command) == 0:
		return o, errors.New("parse flags: no command after --")
	}
	return o, nil
}

// runCgroupPrefix starts the name of a run's cgroup for host processes.
const runCgroupPrefix = "meshbench-"

// HostCgroup is the cgroup of the host processes of run runID on a node
// whose pods lie below podRoot (the kubelet's pod cgroup root, e.g.
// kubepods): meshbench-<run id> beside podRoot, at the node's own level,
// where the kubelet's --cgroup-root puts it (the root of the node's cgroup
// hierarchy by default). Paths are cgroup v2, relative to the mount.
func HostCgroup(podRoot, runID string) string {
	return path.Join(path.Dir(podRoot), runCgroupPrefix+runID)
}

// PodCgroupRoot is the kubelet's pod cgroup root above a cgroup v2 path
// of a pod's container: its first element naming kubepods ("kubepods",
// "kubepods.slice", kind's "kubelet-kubepods.slice"); empty when there is
// none, as on a node whose kubelet keeps its pods in cgroup v1 only.
func PodCgroupRoot(cgroup string) string {
	parts := strings.Split(cgroup, "/")
	for i, p := range parts {
		if strings.Contains(p, "kubepods") {
			return strings.Join(parts[:i+1], "/")
		}
	}
	return ""
}

// errNoPodRoot says why a node agent cannot place host processes.
var errNoPodRoot = errors.New("the node agent's own cgroup v2 lies below no kubepods cgroup: the node's kubelet keeps its pods in cgroup v1 only, or no cgroup2 is mounted, and host processes need a cgroup v2 outside the pods'")

// ownRunCgroup returns the cgroup of run runID's host processes on this
// node, found from the calling process's own cgroup (the node agent's
// container, below the pod root); call it in the host's cgroup namespace.
func ownRunCgroup(runID string) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	own, _ := hostfs.ParseProcCgroup(string(b))
	root := PodCgroupRoot(own)
	if root == "" {
		return "", fmt.Errorf("%w (own cgroup v2 %q)", errNoPodRoot, own)
	}
	return HostCgroup(root, runID), nil
}

// Host runs the host role: it starts the child in its cgroup, passes it
// its stdin, stdout and stderr, and returns when it has exited, which it
// does when its stdin closes; the end of ctx (SIGTERM) ends it sooner.
func Host(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseHostOptions(args, stderr)
	if err != nil {
		return err
	}
	cgroups, err := hostfs.DetectCgroups()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	var dir string
	// One locked thread creates the child in the host's cgroup namespace
	// (the kernel checks a migration against the creator's) and waits
	// for it: the parent-death signal comes when that thread ends.
	err = inHostCgroupNS(func() error {
		run, err := ownRunCgroup(o.RunID)
		if err != nil {
			return err
		}
		dir = cgroups.Dir(path.Join(run, o.Name))
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create the run's host cgroup: %w", err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			dir = ""
			return fmt.Errorf("create the host process's cgroup: %w", err)
		}
		return runIn(ctx, dir, exe, o.Command, stdin, stdout, stderr)
	})
	if dir != "" {
		err = errors.Join(err, removeCgroup(dir), removeIfEmpty(filepath.Dir(dir)))
	}
	return err
}

// runIn runs exe with args in the cgroup dir and waits for it.
func runIn(ctx context.Context, dir, exe string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open the host process's cgroup: %w", err)
	}
	defer f.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd()), Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the host process in cgroup %s: %w", dir, err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("host process: %w", err)
	}
	return nil
}

// removeTries and removeEvery bound how long removing a cgroup waits for
// its killed processes to be gone.
const (
	removeTries = 50
	removeEvery = 20 * time.Millisecond
)

// removeCgroup kills what still runs in the cgroup dir and removes it; a
// cgroup already gone is no error.
func removeCgroup(dir string) error {
	for range removeTries {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, errors.Is(err, fs.ErrNotExist):
			return nil
		case !errors.Is(err, unix.EBUSY):
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		if err := killAll(dir); err != nil {
			return err
		}
		time.Sleep(removeEvery)
	}
	return fmt.Errorf("remove cgroup %s: its processes did not exit", dir)
}

// killAll sends SIGKILL to every process of the cgroup dir: cgroup.kill
// where the kernel has it (5.14), else each process of cgroup.procs.
func killAll(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err == nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("list the processes of cgroup %s: %w", dir, err)
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	return nil
}

// removeIfEmpty removes the directory dir unless it still has children.
func removeIfEmpty(dir string) error {
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}

// removeHostCgroups ends the run's host processes on this node and
// removes their cgroups: what the pause role does on its way out, after a
// host role was killed before it could.
func removeHostCgroups(runID string) error {
	cgroups, err := hostfs.DetectCgroups()
	if err != nil {
		return nil // without cgroup2 the host role cannot have started any
	}
	return inHostCgroupNS(func() error {
		run, err := ownRunCgroup(runID)
		if errors.Is(err, errNoPodRoot) {
			return nil // the host role cannot have started any
		}
		if err != nil {
			return err
		}
		return removeRunCgroup(cgroups.Dir(run))
	})
}

// removeRunCgroup ends the processes of the host cgroups in the run's
// cgroup dir and removes them and it; a dir that does not exist is no
// error.
func removeRunCgroup(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list the run's host cgroups: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, removeCgroup(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(append(errs, removeCgroup(dir))...)
}
