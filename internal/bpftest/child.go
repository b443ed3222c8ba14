package bpftest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Environment of a re-executed test binary acting as a child process.
const (
	envRole  = "MESHBENCH_BPFTEST_ROLE"
	envNetns = "MESHBENCH_BPFTEST_NETNS"
)

// NewCgroup creates a cgroup2 directory below the test process's own cgroup2
// group and registers its removal (after the test's children are gone).
func NewCgroup(tb testing.TB) string {
	tb.Helper()
	own, err := ownCgroup2()
	if err != nil {
		tb.Fatalf("create cgroup: %v", err)
	}
	dir := filepath.Join(Cgroup2Mount(tb), own, uniqueName("meshbench-bpftest"))
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatalf("create cgroup: %v", err)
	}
	tb.Cleanup(func() {
		// A child that just exited may take a moment to leave the group.
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			if time.Now().After(deadline) {
				tb.Errorf("remove cgroup %s: %v", dir, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	return dir
}

// ownCgroup2 returns this process's cgroup2 path (the "0::" line).
func ownCgroup2() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("read own cgroup: no cgroup2 entry in /proc/self/cgroup")
}

// Child is the test binary re-executed as a helper process.
type Child struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

// StartChild re-executes the test binary in role (see [ChildRole]) with
// args, born inside the cgroup2 directory cgroup (clone3 CLONE_INTO_CGROUP,
// so no socket is ever created outside it), and entering the network
// namespace ns before doing anything. The child is killed at cleanup if it
// still runs.
func StartChild(tb testing.TB, role, cgroup string, ns *Netns, args ...string) *Child {
	tb.Helper()
	dir, err := os.Open(cgroup)
	if err != nil {
		tb.Fatalf("open cgroup %s: %v", cgroup, err)
	}
	defer dir.Close()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), envRole+"="+role, envNetns+"="+ns.Path)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("start %s child: %v", role, err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s child: %v", role, err)
	}
	c := &Child{cmd: cmd, out: bufio.NewReader(stdout)}
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return c
}

// Line reads the child's next line of output, without the newline.
func (c *Child) Line() (string, error) {
	s, err := c.out.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

// Wait waits for the child to exit after reading the rest of its output.
func (c *Child) Wait() error {
	if _, err := io.Copy(io.Discard, c.out); err != nil {
		return err
	}
	return c.cmd.Wait()
}

// ChildRole returns the role this process was started in by StartChild,
// with its arguments, or "" in the test process itself. A child has already
// entered its network namespace on a locked thread when this returns: do the
// child's network work on the calling goroutine.
func ChildRole() (role string, args []string, err error) {
	role = os.Getenv(envRole)
	if role == "" {
		return "", nil, nil
	}
	for i, a := range os.Args {
		if a == "--" {
			args = os.Args[i+1:]
			break
		}
	}
	runtime.LockOSThread()
	f, err := os.Open(os.Getenv(envNetns))
	if err != nil {
		return role, args, fmt.Errorf("open network namespace: %w", err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return role, args, fmt.Errorf("enter network namespace: %w", err)
	}
	return role, args, nil
}
