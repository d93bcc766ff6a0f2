package gateway

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// profileCache keeps rendered GET /v2/profile answers per user, so a hit
// costs no NATS round trip. A replica drops a user's entry when a reply
// to one of its own calls says the user's profile changed (heard), every
// replica when ProfileUpdated arrives (watch), and everything when its
// NATS connection comes back (it may have missed events while away).
// Entries also age out: at the TTL, or sooner when the profile service
// says so (the links in its answer expire).
type profileCache struct {
	mu          sync.Mutex
	entries     map[int64]cached
	invalidated map[int64]uint64 // user → clock at its last invalidation
	clock       uint64           // advances on every invalidation and flush
	flushedAt   uint64
	ttl         time.Duration
	max         int
}

type cached struct {
	body    []byte
	expires time.Time
}

// maxInvalidations bounds the per-user invalidation marks; past it they
// are dropped at once and every fetch in flight is refused instead, which
// costs those fetches their caching, never a stale answer.
const maxInvalidations = 10_000

func newProfileCache(ttl time.Duration, max int) *profileCache {
	return &profileCache{entries: map[int64]cached{}, invalidated: map[int64]uint64{}, ttl: ttl, max: max}
}

func (c *profileCache) get(uid int64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[uid]
	if !ok || !time.Now().Before(e.expires) {
		profileCacheLookups.WithLabelValues("miss").Inc()
		return nil, false
	}
	profileCacheLookups.WithLabelValues("hit").Inc()
	return e.body, true
}

// ticket is taken before fetching; put stores only if nothing invalidated
// the user since, so a slow fetch cannot bring back a stale profile.
func (c *profileCache) ticket() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clock
}

// put keeps body for the TTL, or for maxAge when that is shorter (the
// service's word on its answer; 0: not at all).
func (c *profileCache) put(uid int64, body []byte, ticket uint64, maxAge time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	life := min(c.ttl, maxAge)
	if c.invalidated[uid] > ticket || c.flushedAt > ticket || life <= 0 {
		return
	}
	expires := time.Now().Add(life)
	if len(c.entries) >= c.max {
		c.entries = map[int64]cached{} // crude but bounded; a full cache refills in one pass
	}
	c.entries[uid] = cached{body: body, expires: expires}
}

func (c *profileCache) invalidate(uid int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	delete(c.entries, uid)
	if len(c.invalidated) >= maxInvalidations {
		c.invalidated = map[int64]uint64{}
		c.flushedAt = c.clock // refuse what was fetched before this point
		return
	}
	c.invalidated[uid] = c.clock
}

func (c *profileCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	c.flushedAt = c.clock
	c.entries = map[int64]cached{}
	c.invalidated = map[int64]uint64{}
}

// watch drops entries as ProfileUpdated events arrive. A plain subscription
// is enough: JetStream delivers stream subjects to core subscribers too,
// and a replica that was away flushes everything on reconnect.
func (c *profileCache) watch(nc *nats.Conn, log *zap.Logger) (*nats.Subscription, error) {
	return nc.Subscribe(contract.EventSubject(contract.EventProfileUpdated), func(m *nats.Msg) {
		var ev contract.Event
		var data contract.ProfileUpdated
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Decode(&data) != nil || data.UserID == 0 {
			log.Warn("undecodable profile event; flushing the profile cache")
			c.flush()
			return
		}
		c.invalidate(data.UserID)
	})
}

// heard drops the entries of the users a reply says its command changed
// the profile of, before the answer goes back: whatever the route, the
// caller's next read sees its write (read-your-writes), while the other
// replicas wait for ProfileUpdated. Every call the gateway makes hears
// its reply here (callCtx).
func (c *profileCache) heard(h nats.Header) {
	for _, uid := range natsx.ChangedProfiles(h) {
		c.invalidate(uid)
	}
}
