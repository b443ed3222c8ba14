package agent

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// coarseSlack is how long before a deadline sleepUntil hands over from a Go
// timer to nanosleep(2). On an idle Linux runtime a Go timer fires up to
// about a millisecond late (the netpoller waits in whole milliseconds), which
// would be a millisecond of made-up latency at every paced request.
const coarseSlack = 2 * time.Millisecond

// A pacer sleeps until spinAhead before a request's intended time and
// spins the rest: a precise sleep wakes about 11 µs late at the median and
// 38 µs at p99 on this project's 2-vCPU VMs (nanosleep(2), measured), all
// of it lateness of every request. It spins only where requests are
// spinMinInterval apart or more, so that it costs at most
// spinAhead/spinMinInterval (6%) of a core: one request's worker spins at
// a time.
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
// error when ctx ends during the coarse part of the wait. Past t, it
// returns at once, without a system call.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	if d -= coarseSlack; d > 0 {
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

// preciseSleepUntil parks the goroutine in the netpoller on a timerfd(2)
// that expires at t: the kernel's high-resolution timer wakes it, and
// meanwhile it holds neither a thread nor the runtime's P. (A nanosleep(2)
// held its P: the runtime does not retake a P from a system call for up to
// 10 ms while another is idle, so with two Ps two concurrent sleepers left
// none for the goroutines that had work.) Where no timerfd can be made it
// sleeps on a Go timer, up to a millisecond late.
func preciseSleepUntil(t time.Time) {
	tf, _ := timerFDs.Get().(*timerFD)
	if tf == nil {
		time.Sleep(time.Until(t))
		return
	}
	if err := tf.sleepUntil(t); err != nil {
		tf.f.Close()
		time.Sleep(time.Until(t))
		return
	}
	timerFDs.Put(tf)
}

// timerFDs holds idle timers; one the pool drops is closed by its
// os.File's finalizer.
var timerFDs = sync.Pool{New: func() any {
	tf, err := newTimerFD()
	if err != nil {
		return nil
	}
	return tf
}}

// timerFD is a one-shot timerfd(2) read through the netpoller; fd is f's
// descriptor (f.Fd would make it blocking).
type timerFD struct {
	f  *os.File
	fd int
}

func newTimerFD() (*timerFD, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create timerfd: %w", err)
	}
	return &timerFD{f: os.NewFile(uintptr(fd), "timerfd"), fd: fd}, nil
}

// sleepUntil arms the timer for t and reads its expiration. Setting the
// timer resets its count of expirations, so a read never returns one left
// from an earlier sleep.
func (tf *timerFD) sleepUntil(t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(tf.fd, 0, &spec, nil); err != nil {
		return fmt.Errorf("arm timerfd: %w", err)
	}
	var expirations [8]byte
	if _, err := tf.f.Read(expirations[:]); err != nil {
		return fmt.Errorf("read timerfd: %w", err)
	}
	return nil
}
