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
