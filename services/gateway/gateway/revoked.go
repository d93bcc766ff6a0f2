package gateway

import (
	"sync"
	"time"
)

// revokedSet is the sessions this replica refuses, each kept for as long
// as a token of it can still be good, and no longer: the revocation
// bucket keeps an entry for its TTL (auth sets it from the token
// lifetime), so once an entry is that old every token of its session has
// expired, and the set lets it go. It used to keep every revocation it
// had heard until the replica restarted: memory that grew with every
// logout, for ever.
type revokedSet struct {
	mu    sync.RWMutex
	sids  map[string]struct{}
	order []revocation // as heard, oldest first: each sid of sids once
	// keep is how long an entry is kept: the bucket's TTL and the token
	// leeway; 0 keeps every entry.
	keep time.Duration
}

type revocation struct {
	sid string
	at  time.Time
}

// revokedLeeway is kept past the bucket's TTL: the tokens' own leeway
// (the verifier accepts a token 30 s past its exp) and clocks apart.
const revokedLeeway = 2 * time.Minute

func newRevokedSet() *revokedSet { return &revokedSet{sids: map[string]struct{}{}} }

// add records sid as revoked at at (a replay hears it again: kept once).
func (r *revokedSet) add(sid string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.sids[sid]; !ok {
		r.sids[sid] = struct{}{}
		r.order = append(r.order, revocation{sid, at})
	}
}

func (r *revokedSet) has(sid string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.sids[sid]
	return ok
}

func (r *revokedSet) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.sids)
}

// setTTL sets how long the bucket keeps an entry (0: for ever).
func (r *revokedSet) setTTL(ttl time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keep = 0
	if ttl > 0 {
		r.keep = ttl + revokedLeeway
	}
}

// prune lets go of the entries whose time is over, from the front:
// entries are heard in the bucket's order, which is the order they were
// put in, so the over ones are a prefix (one heard out of order waits
// behind a newer one, kept a little longer, never shorter).
func (r *revokedSet) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keep <= 0 {
		return
	}
	cut := now.Add(-r.keep)
	i := 0
	for ; i < len(r.order) && r.order[i].at.Before(cut); i++ {
		delete(r.sids, r.order[i].sid)
	}
	if i == 0 {
		return
	}
	r.order = r.order[i:]
	if cap(r.order) > 64 && len(r.order) < cap(r.order)/4 {
		r.order = append([]revocation(nil), r.order...) // give the dropped front back
	}
}
