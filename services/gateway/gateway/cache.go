package gateway

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
)

// profileCache keeps rendered GET /v2/profile answers per user, so a hit
// costs no NATS round trip. Every replica drops a user's entry when
// ProfileUpdated arrives, and everything when its NATS connection comes
// back (it may have missed events while away). Entries also age out, well
// before the signed image URLs inside them expire.
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

// put keeps body until the TTL, or until notAfter when that is sooner
// (the earliest expiry of a signed link inside it).
func (c *profileCache) put(uid int64, body []byte, ticket uint64, notAfter time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.invalidated[uid] > ticket || c.flushedAt > ticket || c.ttl <= 0 {
		return
	}
	expires := time.Now().Add(c.ttl)
	if !notAfter.IsZero() && notAfter.Before(expires) {
		expires = notAfter
	}
	if len(c.entries) >= c.max {
		c.entries = map[int64]cached{} // crude but bounded; a full cache refills in one pass
	}
	c.entries[uid] = cached{body: body, expires: expires}
}

// changed says this replica saw the user's profile change (its own write or
// the event) since its marks were last dropped: its next fetch asks the
// profile service for the store's answer rather than a replica's cache,
// which may not have heard of the change yet.
func (c *profileCache) changed(uid int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.invalidated[uid]
	return ok
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

// invalidating wraps a handler that changes the caller's profile: once it
// succeeds, this replica's copy goes at once (read-your-writes) without
// waiting for the event.
func (g *Gateway) invalidating(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := h(c)
		if p, ok := c.Get(callerKey).(contract.Principal); ok {
			g.cache.invalidate(p.UserID)
		}
		return err
	}
}
