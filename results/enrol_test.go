package results

import (
	"testing"
	"time"
)

// TestEnrolmentOf builds a load of 10 requests per bin over 1 s whose
// datapath is installed at 0.3 s (ending at 0.5 s) and counts half of
// each bin's requests until 0.6 s, all of them after: the windows, the
// bins' shares and the time to 100% must follow.
func TestEnrolmentOf(t *testing.T) {
	const start = int64(1_000_000_000_000)
	bin := int64(EnrolBin)
	var samples []Sample
	for i := range 100 {
		s := Sample{Seq: uint64(i), Intended: start + int64(i)*bin/10, Latency: time.Millisecond, Code: 200}
		if i == 35 {
			s.Code, s.Error, s.Latency = 0, "read: connection reset by peer", 50*time.Millisecond
		}
		samples = append(samples, s)
	}
	// Polls at the end of each bin from 0.3 s, counting what was sent in
	// the bin: half of it before 0.6 s, all from then on.
	var polls []EnrolPoll
	var through uint64
	for k := 3; k <= 10; k++ {
		at := start + int64(k)*bin
		if k > 3 {
			n := uint64(0)
			for _, s := range samples {
				if s.Intended > at-bin && s.Intended <= at {
					n++
				}
			}
			if k <= 6 {
				n /= 2
			}
			through += n
		}
		polls = append(polls, EnrolPoll{At: at, Through: through})
	}
	e := EnrolmentOf(EnrolInput{Samples: samples, Start: start, Begin: start + 3*bin, End: start + 5*bin, Duration: time.Second, Polls: polls, Counted: true})
	if e.Before.Requests != 30 || e.Transition.Requests != 20 || e.After.Requests != 50 {
		t.Errorf("windows hold %d, %d, %d requests, want 30, 20, 50", e.Before.Requests, e.Transition.Requests, e.After.Requests)
	}
	if e.Transition.Errors != 1 || e.Transition.Resets != 1 || e.Transition.MaxUS != 50_000 || e.Before.Errors != 0 {
		t.Errorf("transition: %+v, want the reset and its 50 ms", e.Transition)
	}
	if len(e.Series) != 10 {
		t.Fatalf("%d bins, want 10", len(e.Series))
	}
	for k, pt := range e.Series {
		if pt.Requests != 10 {
			t.Errorf("bin %d: %d requests, want 10", k, pt.Requests)
		}
		var want float64
		switch {
		case k < 3:
			want = 0 // nothing installed
		case k < 6:
			want = 0.5
		default:
			want = 1
		}
		if pt.Share == nil || *pt.Share != want {
			t.Errorf("bin %d: share %v, want %v", k, pt.Share, want)
		}
	}
	if e.FullS == nil || *e.FullS != 0.3 {
		t.Errorf("FullS = %v, want 0.3 s (from 0.3 s to the poll at 0.6 s)", e.FullS)
	}
	// The load lasts a second: its last second is all of it from the
	// first poll, at 0.3 s: 15 of the 30 requests sent after it until
	// 0.6 s, then all 39 sent after that.
	if e.FinalShare == nil || *e.FinalShare != 54.0/69 {
		t.Errorf("FinalShare = %v, want 54/69", *e.FinalShare)
	}
}

// TestEnrolmentNeverFull checks that a datapath that never takes every
// request has no FullS, and that without polls nothing is counted.
func TestEnrolmentNeverFull(t *testing.T) {
	const start = int64(1_000_000_000_000)
	var samples []Sample
	for i := range 20 {
		samples = append(samples, Sample{Intended: start + int64(i)*int64(50*time.Millisecond), Latency: time.Millisecond, Code: 200})
	}
	polls := []EnrolPoll{{At: start + int64(500*time.Millisecond)}, {At: start + int64(time.Second), Through: 3}}
	e := EnrolmentOf(EnrolInput{Samples: samples, Start: start, Begin: start + int64(400*time.Millisecond), End: start + int64(500*time.Millisecond), Duration: time.Second, Polls: polls, Counted: true})
	if e.FullS != nil {
		t.Errorf("FullS = %v, want none: 3 of 9 requests went through", *e.FullS)
	}
	if e.FinalShare == nil || *e.FinalShare != 3.0/9 { // 9 sent after 0.5 s
		t.Errorf("FinalShare = %v, want 3/9", *e.FinalShare)
	}
	e = EnrolmentOf(EnrolInput{Samples: samples, Start: start, Begin: start, End: start, Duration: time.Second})
	for k, pt := range e.Series {
		if pt.Share != nil || pt.Through != nil {
			t.Errorf("bin %d of an uncounted enrolment has a share", k)
		}
	}
}
