package gateway

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// userCache keeps rendered answers of one read per user, so a hit costs
// no NATS round trip: the profile (GET /v2/profile) and the documents list
// (GET /v2/my/documents, its first page). A replica drops a user's entry
// when a reply to one of its own calls says the user's data changed
// (heard, the cache's header), every replica when an event of the cache's
// says so (watch), and everything when its NATS connection comes back (it
// may have missed events while away). Entries also age out: at the TTL,
// or sooner when the service says so (the links in its answer expire).
type userCache[V any] struct {
	kind        string                 // "profile", "documents"
	header      string                 // the reply header naming the users a command changed
	lookups     *prometheus.CounterVec // hits and misses
	mu          sync.Mutex
	entries     map[int64]cached[V]
	invalidated map[int64]uint64 // user → clock at its last invalidation
	clock       uint64           // advances on every invalidation and flush
	flushedAt   uint64
	ttl         time.Duration
	max         int
}

type cached[V any] struct {
	value   V
	expires time.Time
}

// profileCache is the profile's: the answer's bytes.
type profileCache = userCache[[]byte]

// documentsCache is the documents list's first page: its bytes and the
// total the answer's X-Total-Count carries.
type documentsCache = userCache[documentsPage]

type documentsPage struct {
	body  []byte
	total int
}

// maxInvalidations bounds the per-user invalidation marks; past it they
// are dropped at once and every fetch in flight is refused instead, which
// costs those fetches their caching, never a stale answer.
const maxInvalidations = 10_000

func newUserCache[V any](kind, header string, lookups *prometheus.CounterVec, ttl time.Duration, max int) *userCache[V] {
	return &userCache[V]{kind: kind, header: header, lookups: lookups, entries: map[int64]cached[V]{}, invalidated: map[int64]uint64{}, ttl: ttl, max: max}
}

func newProfileCache(ttl time.Duration, max int) *profileCache {
	return newUserCache[[]byte]("profile", contract.HeaderProfileChanged, profileCacheLookups, ttl, max)
}

func newDocumentsCache(ttl time.Duration, max int) *documentsCache {
	return newUserCache[documentsPage]("documents", contract.HeaderDocumentsChanged, documentsCacheLookups, ttl, max)
}

func (c *userCache[V]) get(uid int64) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[uid]
	if !ok || !time.Now().Before(e.expires) {
		c.lookups.WithLabelValues("miss").Inc()
		var none V
		return none, false
	}
	c.lookups.WithLabelValues("hit").Inc()
	return e.value, true
}

// ticket is taken before fetching; put stores only if nothing invalidated
// the user since, so a slow fetch cannot bring back a stale profile.
func (c *userCache[V]) ticket() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clock
}

// put keeps v for the TTL, or for maxAge when that is shorter (the
// service's word on its answer; 0: not at all).
func (c *userCache[V]) put(uid int64, v V, ticket uint64, maxAge time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	life := min(c.ttl, maxAge)
	if c.invalidated[uid] > ticket || c.flushedAt > ticket || life <= 0 {
		return
	}
	expires := time.Now().Add(life)
	if len(c.entries) >= c.max {
		c.entries = map[int64]cached[V]{} // crude but bounded; a full cache refills in one pass
	}
	c.entries[uid] = cached[V]{value: v, expires: expires}
}

func (c *userCache[V]) invalidate(uid int64) {
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

func (c *userCache[V]) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	c.flushedAt = c.clock
	c.entries = map[int64]cached[V]{}
	c.invalidated = map[int64]uint64{}
}

// watch drops entries as the events of subjects arrive, each naming its
// user through userOf (0: it names none, and everything is dropped). A
// plain subscription is enough: JetStream delivers stream subjects to core
// subscribers too, and a replica that was away flushes everything on
// reconnect. Events the client dropped (a slow consumer: its queue was
// full) flush everything too, since any of them could have named a user.
func (c *userCache[V]) watch(nc *nats.Conn, log *zap.Logger, userOf func(contract.Event) int64, eventTypes ...string) error {
	for _, t := range eventTypes {
		var sub atomic.Pointer[nats.Subscription]
		dropped := func() (int, error) {
			if s := sub.Load(); s != nil {
				return s.Dropped()
			}
			return 0, nil
		}
		s, err := nc.Subscribe(contract.EventSubject(t), c.onEvent(log, userOf, dropped))
		if err != nil {
			return fmt.Errorf("%s cache watch: %w", c.kind, err)
		}
		sub.Store(s)
	}
	return nil
}

// onEvent is one watched subject's handler; dropped is how many of its
// messages the client has dropped so far. A full queue drops messages
// and still holds the ones before, so the next one run sees the count.
func (c *userCache[V]) onEvent(log *zap.Logger, userOf func(contract.Event) int64, dropped func() (int, error)) nats.MsgHandler {
	seen := 0 // a subscription's handler runs one message at a time
	return func(m *nats.Msg) {
		if n, err := dropped(); err == nil && n > seen {
			seen = n
			log.Warn("events were dropped (slow consumer); flushing the cache", zap.String("cache", c.kind), zap.String("subject", m.Subject), zap.Int("dropped", n))
			c.flush()
			return
		}
		var ev contract.Event
		uid := int64(0)
		if json.Unmarshal(m.Data, &ev) == nil {
			uid = userOf(ev)
		}
		if uid == 0 {
			log.Warn("undecodable event; flushing the cache", zap.String("cache", c.kind), zap.String("subject", m.Subject))
			c.flush()
			return
		}
		c.invalidate(uid)
	}
}

// profileOf is the user a ProfileUpdated event names.
func profileOf(ev contract.Event) int64 {
	var d contract.ProfileUpdated
	if ev.Decode(&d) != nil {
		return 0
	}
	return d.UserID
}

// documentsOf is the user whose documents a documents event changed: its
// snapshot's, or the erased account's.
func documentsOf(ev contract.Event) int64 {
	if ev.Type == contract.EventDocumentsAccountErased {
		var d contract.AccountPartErased
		if ev.Decode(&d) != nil {
			return 0
		}
		return d.UserID
	}
	var d contract.DocumentChanged
	if ev.Decode(&d) != nil {
		return 0
	}
	return d.Snapshot.UserID
}

// cachedCall is a read through cache: the caller's entry when there is
// one, or else subject's reply to req, rendered, and kept for as long as
// the reply allows (contract.HeaderCacheMaxAge), at most the cache's TTL.
// With keep false it neither reads nor keeps an entry (a page the cache
// does not hold).
func cachedCall[V, Req, Resp any](g *Gateway, c echo.Context, cache *userCache[V], keep bool, subject string, req Req, render func(Resp) (V, error)) (V, error) {
	uid := c.Get(callerKey).(contract.Principal).UserID
	if keep {
		if v, ok := cache.get(uid); ok {
			return v, nil
		}
	}
	ticket := cache.ticket()
	var maxAge time.Duration
	ctx := natsx.OnReply(g.callCtx(c), func(h nats.Header) { maxAge = natsx.CacheMaxAge(h) })
	resp, err := natsx.Call[Req, Resp](ctx, g.nc, subject, req)
	if err != nil {
		var none V
		return none, err
	}
	v, err := render(resp)
	if err == nil && keep {
		cache.put(uid, v, ticket, maxAge)
	}
	return v, err
}

// heard drops the entries of the users a reply says its command changed
// (the cache's header), before the answer goes back: whatever the route,
// the caller's next read sees its write (read-your-writes), while the
// other replicas wait for the event. Every call the gateway makes hears
// its reply here (callCtx).
func (c *userCache[V]) heard(h nats.Header) {
	for _, uid := range natsx.ChangedUsers(h, c.header) {
		c.invalidate(uid)
	}
}
