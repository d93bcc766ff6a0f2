package gateway

import (
	"strconv"
	"testing"
	"time"
)

// A revoked session is refused for as long as a token of it can be good
// (the bucket's TTL and the leeway), and let go of after: the set no
// longer grows with every logout for the replica's whole life.
func TestRevokedSessionsAreKeptForTheirTokensLifeOnly(t *testing.T) {
	r := newRevokedSet()
	const ttl = time.Hour
	r.setTTL(ttl)
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	r.add("old", t0)
	r.add("new", t0.Add(30*time.Minute))
	r.prune(t0.Add(ttl + revokedLeeway - time.Second))
	if !r.has("old") || !r.has("new") {
		t.Fatal("a revocation was let go of while a token of its session could still be good")
	}
	r.prune(t0.Add(ttl + revokedLeeway + time.Second))
	if r.has("old") || !r.has("new") {
		t.Fatalf("after the old one's time: old %v, new %v", r.has("old"), r.has("new"))
	}

	// The replay of a rewatch hears every entry again: still one each.
	r.add("new", t0.Add(30*time.Minute))
	if len(r.order) != 1 {
		t.Fatalf("%d entries in order after a replay, want 1", len(r.order))
	}

	// A day of logouts, one a second, pruned each minute as the watch
	// does, holds an hour and a bit of them.
	for i := range 24 * 3600 {
		at := t0.Add(time.Duration(i) * time.Second)
		r.add(strconv.Itoa(i), at)
		if i%60 == 0 {
			r.prune(at)
		}
	}
	if n, most := r.len(), int((ttl+revokedLeeway+revokedPrune)/time.Second)+1; n > most {
		t.Fatalf("%d revocations kept, at most %d can still matter", n, most)
	}
	if cap(r.order) > 4*r.len()+64 {
		t.Fatalf("the order keeps room for %d entries, holding %d", cap(r.order), r.len())
	}
}

// Without a TTL read from the bucket, nothing is let go of.
func TestRevokedSessionsWithoutATTLAreKept(t *testing.T) {
	r := newRevokedSet()
	t0 := time.Now()
	r.add("s", t0)
	r.prune(t0.Add(365 * 24 * time.Hour))
	if !r.has("s") {
		t.Fatal("let go of a revocation with no TTL known")
	}
}
