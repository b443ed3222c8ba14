package netns

import (
	"errors"
	"fmt"
	"os/exec"

	vnetns "github.com/vishvananda/netns"

	"github.com/meshbench/meshbench/internal/nsenter"
)

// spawner forks a cluster's processes from one OS thread that it keeps
// locked for the cluster's life. Pdeathsig fires when the forking thread
// exits, not the process, and a thread returned to Go's pool is retired by
// the next goroutine that happens to exit while locked to it (Check's
// probe, or library code giving up on a namespace it cannot restore),
// which would kill every agent forked from it.
type spawner struct {
	cg   *runCgroups
	reqs chan spawnReq
}

// errLostHost says the spawner thread could not return to the host's mount
// namespace.
var errLostHost = errors.New("spawner thread lost the host's file system")

type spawnReq struct {
	nsPath, cgroup string
	// private gives the process a private mount namespace with state
	// (mountns.go).
	private bool
	state   string
	cmd     *exec.Cmd
	res     chan error
}

func newSpawner(cg *runCgroups) *spawner {
	s := &spawner{cg: cg, reqs: make(chan spawnReq)}
	go s.run()
	return s
}

// start runs cmd.Start inside the namespace at nsPath and in cgroup's v1
// groups (cmd carries the v2 cgroup itself); with private, in a mount
// namespace of its own that shows it state.
func (s *spawner) start(nsPath, cgroup string, private bool, state string, cmd *exec.Cmd) error {
	res := make(chan error, 1)
	s.reqs <- spawnReq{nsPath: nsPath, cgroup: cgroup, private: private, state: state, cmd: cmd, res: res}
	return <-res
}

// stop ends the thread; its children must be gone already.
func (s *spawner) stop() { close(s.reqs) }

// run serves requests on a thread of its own until stop; the thread is
// discarded after (onThread), wherever the last request left it.
func (s *spawner) run() {
	err := onThread(func(t *thread) error {
		if err := dropRootPrivileges(); err != nil {
			return err
		}
		host, err := openHostMounts()
		if err != nil {
			return err
		}
		defer host.close()
		// broken is set when the thread could not return to the host's
		// mount namespace: it must fork nothing more.
		var broken error
		for r := range s.reqs {
			if broken != nil {
				r.res <- broken
				continue
			}
			err := s.startIn(t, host, r)
			if errors.Is(err, errLostHost) {
				broken = err
			}
			r.res <- err
		}
		return nil
	})
	for r := range s.reqs { // onThread could not start
		r.res <- fmt.Errorf("start spawner thread: %w", err)
	}
}

// startIn forks from the thread switched into the target namespace and v1
// groups, so that the child starts in both. The thread goes back home
// afterwards; if it cannot, that harms nothing since every request
// switches it explicitly.
func (s *spawner) startIn(t *thread, host hostMounts, r spawnReq) error {
	if err := nsenter.Check(r.nsPath); err != nil {
		return fmt.Errorf("enter network namespace: %w", err)
	}
	target, err := vnetns.GetFromPath(r.nsPath)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()
	if err := vnetns.Set(target); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", r.nsPath, err)
	}
	err = s.cg.moveThread(r.cgroup)
	if err == nil && r.private {
		err = privateRoot(r.cmd.Path, r.state)
	}
	if err == nil {
		if err = r.cmd.Start(); err != nil {
			err = fmt.Errorf("exec %s: %w", r.cmd.Path, err)
		}
	}
	if r.private {
		// Back in the host's file system before touching its cgroups;
		// a thread that cannot return forks nothing more (run).
		if rerr := host.restore(); rerr != nil {
			return errors.Join(err, fmt.Errorf("%w: %w", errLostHost, rerr))
		}
	}
	if s.cg.moveThread("") == nil {
		_ = t.restore()
	}
	return err
}
