package agent

import (
	"context"
	"errors"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// coarseSlack is how long before a deadline sleepUntil hands over from a Go
// timer to nanosleep(2). On an idle Linux runtime a Go timer fires up to
// about a millisecond late (the netpoller waits in whole milliseconds), which
// would be a millisecond of made-up latency at every paced request.
const coarseSlack = 2 * time.Millisecond

// A pacer sleeps until spinAhead before a request's intended time and
// spins the rest: nanosleep(2) wakes about 11 µs late at the median and
// 38 µs at p99 on this project's 2-vCPU VMs, all of it lateness of every
// request. It spins only where requests are spinMinInterval apart or more,
// so that it costs at most spinAhead/spinMinInterval (6%) of a core.
const (
	spinAhead       = 30 * time.Microsecond
	spinMinInterval = 500 * time.Microsecond
)

// spinUntil returns at t, spinning on the clock.
func spinUntil(t time.Time) {
	for time.Now().Before(t) {
	}
}

// sleepUntil returns at t, within tens of microseconds, or early with ctx's
// error when ctx ends during the coarse part of the wait.
func sleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t) - coarseSlack; d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
	preciseSleepUntil(t)
	return nil
}

// preciseSleepUntil sleeps in nanosleep(2) on the current thread with a
// timer slack of 1 ns. The goroutine holds its thread meanwhile; the Go
// scheduler moves other goroutines to another thread.
func preciseSleepUntil(t time.Time) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The slack stays at 1 ns on this thread, which only makes its later
	// timers precise too. Should prctl fail, the default 50 µs slack stays.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		ts := unix.NsecToTimespec(int64(d))
		// The runtime's preemption signals interrupt the sleep; recompute
		// what is left and go on.
		if err := unix.Nanosleep(&ts, nil); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
