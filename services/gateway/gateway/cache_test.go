package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
)

// An entry lives for the TTL or the service's max-age, whichever is
// shorter; a max-age of 0 (or none) keeps nothing.
func TestCacheEntryLivesForTheShorterOfTTLAndMaxAge(t *testing.T) {
	c := newProfileCache(time.Hour, 10)
	for _, tc := range []struct {
		name   string
		uid    int64
		maxAge time.Duration
		cached bool
		within time.Duration
	}{
		{"the service says nothing", 1, 0, false, 0},
		{"the service says less than the TTL", 2, time.Minute, true, time.Minute},
		{"the service says more than the TTL", 3, 24 * time.Hour, true, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			c.put(tc.uid, []byte("p"), c.ticket(), tc.maxAge)
			if _, ok := c.get(tc.uid); ok != tc.cached {
				t.Fatalf("cached %v, want %v", ok, tc.cached)
			}
			if !tc.cached {
				return
			}
			if exp := c.entries[tc.uid].expires; exp.Before(before.Add(tc.within)) || exp.After(time.Now().Add(tc.within)) {
				t.Fatalf("expires in %v, want %v", exp.Sub(before), tc.within)
			}
		})
	}
	t.Run("no TTL keeps nothing", func(t *testing.T) {
		off := newProfileCache(0, 10)
		off.put(1, []byte("p"), off.ticket(), time.Hour)
		if _, ok := off.get(1); ok {
			t.Fatal("cached with a TTL of 0")
		}
	})
}

// A reply naming users drops their entries and no one else's, and a fetch
// that started before it cannot put the old answer back.
func TestCacheHearsChangedProfilesInReplies(t *testing.T) {
	c := newProfileCache(time.Hour, 10)
	for uid := range int64(4) {
		c.put(uid, []byte("old"), c.ticket(), time.Hour)
	}
	slow := c.ticket() // a fetch for user 1 starts
	c.heard(nats.Header{contract.HeaderProfileChanged: {"1", "2", "x", ""}})
	for uid, kept := range map[int64]bool{0: true, 1: false, 2: false, 3: true} {
		if _, ok := c.get(uid); ok != kept {
			t.Errorf("user %d cached %v, want %v", uid, ok, kept)
		}
	}
	c.put(1, []byte("old"), slow, time.Hour)
	if _, ok := c.get(1); ok {
		t.Fatal("a fetch from before the reply was cached")
	}
	c.heard(nats.Header{})
	if _, ok := c.get(0); !ok {
		t.Fatal("a reply naming no one dropped an entry")
	}
}

// The invalidation marks are bounded; dropping them must not let a fetch
// that started before an invalidation store its stale answer.
func TestCacheInvalidationMarksAreBounded(t *testing.T) {
	c := newProfileCache(time.Hour, 10)
	stale := c.ticket() // a fetch for user 1 starts
	for uid := range int64(maxInvalidations + 5) {
		c.invalidate(uid) // user 1 among them
	}
	if len(c.invalidated) > maxInvalidations {
		t.Fatalf("%d marks kept", len(c.invalidated))
	}
	c.put(1, []byte("stale"), stale, time.Hour)
	if _, ok := c.get(1); ok {
		t.Fatal("a fetch from before the invalidation was cached")
	}
	c.put(1, []byte("fresh"), c.ticket(), time.Hour)
	if _, ok := c.get(1); !ok {
		t.Fatal("a fresh fetch was not cached")
	}
}

func TestVerifiedTokensExpireAndAreBounded(t *testing.T) {
	v := newVerifiedTokens(2)
	now := time.Now()
	p := contract.Principal{UserID: 1, SessionID: "s"}
	v.put("a", p, now.Add(time.Minute))
	if got, ok := v.get("a", now); !ok || got != p {
		t.Fatal("a checked token is not remembered")
	}
	if _, ok := v.get("a", now.Add(time.Minute)); ok {
		t.Fatal("a token is remembered past its expiry")
	}
	if _, ok := v.get("a.", now); ok {
		t.Fatal("another string passed for a remembered token")
	}
	v.put("b", p, now.Add(time.Minute))
	v.put("c", p, now.Add(time.Minute))
	if len(v.entries) > 2 {
		t.Fatalf("%d entries, bound 2", len(v.entries))
	}
	v.forget()
	if _, ok := v.get("c", now); ok {
		t.Fatal("forget kept a token")
	}
}

// The documents cache drops a user on its own header only, and reads the
// user of each documents event it follows; one it cannot read names no
// one (and so flushes everything).
func TestDocumentsCacheHearsItsHeaderAndEvents(t *testing.T) {
	c := newDocumentsCache(time.Hour, 10)
	for uid := range int64(3) {
		c.put(uid, documentsPage{body: []byte("[]")}, c.ticket(), time.Hour)
	}
	c.heard(nats.Header{contract.HeaderProfileChanged: {"1"}})
	if _, ok := c.get(1); !ok {
		t.Fatal("a profile change dropped a documents page")
	}
	c.heard(nats.Header{contract.HeaderDocumentsChanged: {"1"}})
	if _, ok := c.get(1); ok {
		t.Fatal("a documents change kept the page")
	}
	event := func(typ string, data any) contract.Event {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		return contract.Event{Type: typ, Data: b}
	}
	for _, tc := range []struct {
		ev   contract.Event
		want int64
	}{
		{event(contract.EventDocumentAdded, contract.DocumentChanged{DocumentID: 5, Snapshot: contract.DocumentsSnapshot{UserID: 7}}), 7},
		{event(contract.EventDocumentReviewed, contract.DocumentChanged{DocumentID: 5, Snapshot: contract.DocumentsSnapshot{UserID: 8}}), 8},
		{event(contract.EventDocumentsAccountErased, contract.AccountPartErased{UserID: 9, Service: contract.ServiceDocuments}), 9},
		{contract.Event{Type: contract.EventDocumentDeleted, Data: []byte(`"x"`)}, 0},
	} {
		if got := documentsOf(tc.ev); got != tc.want {
			t.Errorf("%s: user %d, want %d", tc.ev.Type, got, tc.want)
		}
	}
}

// A watch whose client dropped events (a slow consumer) cannot know whose
// entries they named: the next event it runs flushes every entry. Before,
// only the user that event named was dropped, and a page the lost event
// named was served for the rest of its lifetime.
func TestDroppedEventsFlushTheCache(t *testing.T) {
	c := newProfileCache(time.Hour, 10)
	for uid := range int64(3) {
		c.put(uid, []byte("{}"), c.ticket(), time.Hour)
	}
	drops := 0
	handle := c.onEvent(zap.NewNop(), profileOf, func() (int, error) { return drops, nil })
	ev, err := json.Marshal(contract.Event{Type: contract.EventProfileUpdated, Data: []byte(`{"user_id":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	handle(&nats.Msg{Subject: "events.profile.updated", Data: ev})
	if _, ok := c.get(1); !ok {
		t.Fatal("user 2's event dropped user 1's entry")
	}
	drops = 4 // the event that named user 1 was among them
	handle(&nats.Msg{Subject: "events.profile.updated", Data: ev})
	if _, ok := c.get(1); ok {
		t.Fatal("after dropped events, user 1's entry was still served")
	}
}
