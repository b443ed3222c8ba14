package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/clusters"
)

// RunIDEnv names the environment variable that carries the run id to
// processes started in the cluster.
const RunIDEnv = "MESHBENCH_RUN_ID"

// Start runs the meshbench executable with spec.Args inside the target's
// network namespace and cgroup. A process on a node runs in the node's
// "system" child cgroup; with spec.Container, it runs in the target's child
// cgroup of that name, created if missing. It keeps only the capabilities
// of its container (NetAdmin) and spec.Caps (caps.go); in a pod, it has a
// mount namespace of its own that shows only the executable, /proc and
// spec.StateDir (mountns.go). The process is
// killed if the runner dies, and by Delete; ctx bounds only the start.
func (c *Cluster) Start(ctx context.Context, spec clusters.ProcSpec) (clusters.Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	// Under the lock, as AddPod and DeletePod change the topology.
	c.mu.Lock()
	defer c.mu.Unlock()
	nsPath, cgroup, where, err := c.target(spec)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	if c.deleted {
		return nil, fmt.Errorf("start %s: cluster %s is deleted", spec.Name, c.topo.Name)
	}
	if spec.Container != "" {
		if err := c.cg.mkdirAll(cgroup); err != nil {
			return nil, fmt.Errorf("start %s: %w", spec.Name, err)
		}
	}
	caps, err := c.ambientCaps(spec)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p, err := c.spawn(nsPath, cgroup, spec, caps)
	if err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", spec.Name, where, err)
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// target resolves where spec runs: namespace path, cgroup, and a
// description for errors.
func (c *Cluster) target(spec clusters.ProcSpec) (nsPath, cgroup, where string, err error) {
	tg := spec.Target
	switch {
	case tg.Pod != "" && tg.Node == "":
		p, ok := c.topo.Pod(tg.Pod)
		if !ok {
			return "", "", "", fmt.Errorf("no pod %q", tg.Pod)
		}
		nsPath, cgroup, where = p.NetNS, p.Cgroup, "pod "+p.Name
		if _, injected := c.netAdmin[spec.Container]; injected && !c.topo.Injected(p) {
			// The injector left the pod alone: it has no such container.
			return "", "", "", fmt.Errorf("pod %s has no container %s: its %s label kept the injector out", p.Name, spec.Container, clusters.InjectLabel)
		}
		if spec.Container != "" {
			cgroup = p.ContainerCgroup(spec.Container)
		}
	case tg.Node != "" && tg.Pod == "":
		n, ok := c.topo.Node(tg.Node)
		if !ok {
			return "", "", "", fmt.Errorf("no node %q", tg.Node)
		}
		nsPath, cgroup, where = n.NetNS, n.ContainerCgroup(systemCgroup), "node "+n.Name
		if spec.Container != "" {
			cgroup = n.ContainerCgroup(spec.Container)
		}
	default:
		return "", "", "", errors.New("target needs exactly one of pod and node")
	}
	if spec.Container != "" && (spec.Container != path.Base(spec.Container) || spec.Container == "..") {
		return "", "", "", fmt.Errorf("container %q: want a plain name", spec.Container)
	}
	return nsPath, cgroup, where, nil
}

// spawn forks from a thread inside the target namespace and v1 groups, so
// the child inherits them, and clones the child straight into its v2
// cgroup.
func (c *Cluster) spawn(nsPath, cgroup string, spec clusters.ProcSpec, caps []uintptr) (*process, error) {
	cgfd, err := c.cg.openV2(cgroup)
	if err != nil {
		return nil, err
	}
	defer unix.Close(cgfd)
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("make stdin pipe: %w", err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, fmt.Errorf("make stdout pipe: %w", err)
	}
	p := &process{stdin: stdinW, stdout: &eofCloser{f: stdoutR}, done: make(chan struct{})}
	var stderr io.Writer = &p.tail
	if spec.Stderr != nil {
		stderr = io.MultiWriter(&p.tail, spec.Stderr)
	}
	cmd := exec.Command(c.exe, spec.Args...)
	cmd.Env = append(os.Environ(), RunIDEnv+"="+c.topo.RunID)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, stdoutW, stderr
	cmd.WaitDelay = time.Second // a grandchild holding stderr must not hang Wait
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Fired when the forking thread exits: the spawner's, which lives
		// as long as the cluster.
		Pdeathsig:   syscall.SIGKILL,
		UseCgroupFD: true,
		CgroupFD:    cgfd,
		// The only capabilities the child keeps (see caps.go).
		AmbientCaps: caps,
	}
	p.cmd = cmd
	err = c.spawner.start(nsPath, cgroup, spec.Target.Pod != "", spec.StateDir, cmd)
	stdinR.Close()
	stdoutW.Close()
	if err != nil {
		stdinW.Close()
		stdoutR.Close()
		return nil, err
	}
	p.desc = fmt.Sprintf("%s (pid %d)", spec.Name, cmd.Process.Pid)
	go p.wait()
	return p, nil
}

// process is a started agent.
type process struct {
	desc   string // name, pid and target, for errors
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *eofCloser
	tail   clusters.Tail

	done    chan struct{}
	err     error // Wait's error, with the stderr tail
	exitErr error // cmd.Wait's own error
}

var _ clusters.Process = (*process)(nil)

func (p *process) wait() {
	p.exitErr = p.cmd.Wait()
	p.stdin.Close()
	if p.exitErr != nil {
		p.err = fmt.Errorf("%s exited: %w", p.desc, p.exitErr)
		if t := p.tail.String(); t != "" {
			p.err = fmt.Errorf("%w; stderr: %s", p.err, t)
		}
	}
	close(p.done)
}

func (p *process) Pid() int          { return p.cmd.Process.Pid }
func (p *process) Stdin() io.Writer  { return p.stdin }
func (p *process) Stdout() io.Reader { return p.stdout }

// Wait returns when the process has exited; its error ends with the tail of
// the process's stderr.
func (p *process) Wait() error {
	<-p.done
	return p.err
}

// Stop sends SIGTERM and, if the process has not exited after grace,
// SIGKILL. An exit caused by Stop's SIGTERM is not an error; any other
// failure is returned as Wait returns it.
func (p *process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.desc, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		var ee *exec.ExitError
		if errors.As(p.exitErr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
				return nil
			}
		}
		return p.err
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("stop %s: still running %s after SIGTERM, killed", p.desc, grace)
	}
}

// eofCloser closes the read end of the stdout pipe once it is drained, so
// a caller reading to EOF leaks no descriptor.
type eofCloser struct{ f *os.File }

func (r *eofCloser) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	if err != nil {
		r.f.Close()
	}
	return n, err
}
