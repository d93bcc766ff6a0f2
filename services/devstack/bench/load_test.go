package main

import (
	"crypto/sha256"
	"sync/atomic"
	"testing"
	"time"
)

// The CPU a case costs is measured over its whole run, warm-up included,
// so the count it is divided by must include the warm-up's requests too;
// dividing by the measured ones alone overstated it by a fifth.
func TestClosedLoopCountsEveryRequestSent(t *testing.T) {
	var calls atomic.Int64
	r := closedLoop("count", 50*time.Millisecond, 2, func(int) error {
		calls.Add(1)
		sha256.Sum256(make([]byte, 4096)) // some work, so the run is not millions of calls
		return nil
	})
	if int64(r.sent) != calls.Load() {
		t.Fatalf("sent %d, want every one of the %d calls", r.sent, calls.Load())
	}
	if r.ok >= r.sent {
		t.Fatalf("measured %d of %d: the warm-up's requests must not be measured", r.ok, r.sent)
	}
}

// An open loop's lateness is the part of each latency the generator spent
// before sending: one per measured request, and the request's own time
// comes on top of it.
func TestOpenLoopLatenessIsPartOfLatency(t *testing.T) {
	const work = 200 * time.Microsecond
	r := openLoop("late", 20*time.Millisecond, 2000, func(int) error {
		for t0 := time.Now(); time.Since(t0) < work; {
		}
		return nil
	})
	if r.ok == 0 || len(r.late) != r.ok {
		t.Fatalf("%d lateness figures for %d measured requests", len(r.late), r.ok)
	}
	// Each request's latency is at least its lateness plus its work, so
	// the same holds for every rank of the two sorted lists.
	for i := range r.late {
		if r.lat[i]-r.late[i] < work {
			t.Fatalf("rank %d: latency %v, lateness %v: the request's own %v is not between them", i, r.lat[i], r.late[i], work)
		}
	}
}
