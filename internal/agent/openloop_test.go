package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// fakeExchanger records what openLoop asks of it; hold, if set, blocks
// each exchange until it is closed.
type fakeExchanger struct {
	mu       sync.Mutex
	targets  map[int]int
	inFlight atomic.Int64
	most     atomic.Int64
	hold     chan struct{}
	fail     error
}

func (f *fakeExchanger) exchange(ctx context.Context, target int) outcome {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for m := f.most.Load(); n > m && !f.most.CompareAndSwap(m, n); m = f.most.Load() {
	}
	f.mu.Lock()
	f.targets[target]++
	f.mu.Unlock()
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return outcome{err: ctx.Err()}
		}
	}
	if f.fail != nil {
		return outcome{err: f.fail}
	}
	return outcome{code: exchangeOK, bytesIn: 7}
}

func (f *fakeExchanger) close() {}

func runOpenLoop(tb testing.TB, ctx context.Context, a wire.Attack, x exchanger, targets int, workers, maxWorkers uint64) (*schedule, []results.Sample) {
	tb.Helper()
	s, err := newSchedule(ctx, a)
	if err != nil {
		tb.Fatal(err)
	}
	var got []results.Sample
	for smp := range openLoop(ctx, s, x, targets, workers, maxWorkers) {
		got = append(got, smp)
	}
	return s, got
}

// Every request of the schedule is sent once, to the targets round-robin,
// and measured from its intended time: began + seq × interval exactly.
func TestOpenLoopFollowsSchedule(t *testing.T) {
	x := &fakeExchanger{targets: map[int]int{}}
	s, got := runOpenLoop(t, context.Background(), wire.Attack{Rate: 2000, Duration: 50 * time.Millisecond}, x, 3, 1, 8)
	if len(got) != 100 || s.total != 100 {
		t.Fatalf("got %d samples of %d planned, want 100", len(got), s.total)
	}
	seen := map[uint64]bool{}
	for _, smp := range got {
		if seen[smp.Seq] || smp.Seq >= 100 {
			t.Fatalf("sequence number %d twice or out of range", smp.Seq)
		}
		seen[smp.Seq] = true
		if want := s.began.Add(time.Duration(smp.Seq) * 500 * time.Microsecond).UnixNano(); smp.Intended != want {
			t.Errorf("sample %d intended at began%+dns, want began%+dns", smp.Seq, smp.Intended-s.began.UnixNano(), want-s.began.UnixNano())
		}
		if smp.Latency < smp.Service || smp.Code != exchangeOK || smp.BytesIn != 7 || smp.Error != "" {
			t.Errorf("sample %+v: want latency >= service, code %d, 7 bytes, no error", smp, exchangeOK)
		}
	}
	if x.targets[0] != 34 || x.targets[1] != 33 || x.targets[2] != 33 {
		t.Errorf("exchanges per target = %v, want 34, 33, 33 (round-robin)", x.targets)
	}
}

// With every worker busy, requests wait in the pacer, at most maxWorkers
// in flight, and the wait counts in their latency from the intended time.
func TestOpenLoopCapsWorkersAndCountsTheWait(t *testing.T) {
	x := &fakeExchanger{targets: map[int]int{}, hold: make(chan struct{})}
	a := wire.Attack{Rate: 1000, Duration: 20 * time.Millisecond}
	// Release the held exchanges once the pacer stood still a while.
	time.AfterFunc(100*time.Millisecond, func() { close(x.hold) })
	_, got := runOpenLoop(t, context.Background(), a, x, 1, 1, 4)
	if len(got) != 20 {
		t.Fatalf("got %d samples, want 20", len(got))
	}
	if most := x.most.Load(); most != 4 {
		t.Errorf("at most %d exchanges in flight, want 4 (maxWorkers)", most)
	}
	late := 0
	for _, smp := range got {
		if smp.Latency-smp.Service >= 50*time.Millisecond {
			late++
		}
	}
	// The 16 requests after the first 4 were sent once a worker came
	// free, after the hold: their wait is latency.
	if late < 16 {
		t.Errorf("%d samples sent >= 50ms after their intended time, want the 16 that waited for a worker", late)
	}
}

// A failed exchange is a sample with its error and no code; an ended
// context ends the attack early and closes the channel.
func TestOpenLoopErrorsAndCancel(t *testing.T) {
	boom := errors.New("boom")
	_, got := runOpenLoop(t, context.Background(), wire.Attack{Count: 3}, &fakeExchanger{targets: map[int]int{}, fail: boom}, 1, 1, 1)
	if len(got) != 3 {
		t.Fatalf("closed loop of 3: got %d samples", len(got))
	}
	for _, smp := range got {
		if smp.Error != "boom" || smp.Code != 0 || smp.Latency != smp.Service {
			t.Errorf("sample %+v, want error boom, no code, latency = service time (closed loop)", smp)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	x := &fakeExchanger{targets: map[int]int{}, hold: make(chan struct{})}
	time.AfterFunc(20*time.Millisecond, cancel)
	_, got = runOpenLoop(t, ctx, wire.Attack{Rate: 1000, Duration: time.Minute}, x, 1, 1, 2)
	if len(got) != 2 {
		t.Errorf("cancelled with 2 exchanges held: got %d samples, want those 2", len(got))
	}
	for _, smp := range got {
		if smp.Error != context.Canceled.Error() {
			t.Errorf("sample %+v, want the cancellation as its error", smp)
		}
	}
}
