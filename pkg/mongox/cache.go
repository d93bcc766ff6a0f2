package mongox

import (
	"context"
	"sync"
	"time"
)

// A Versioned with a cache keeps each key's newest state in this process,
// so a read costs no store round trip. Its own writes refresh it; writes
// by other replicas reach it through their events, which the service
// turns into Forget (and a lost connection into ForgetAll); entries also
// age out. A caller that must see the store (it was told the key
// changed) reads with WithFresh; Update always does.

type freshKey struct{}

// WithFresh makes Versioned reads under ctx go to the store.
func WithFresh(ctx context.Context) context.Context { return context.WithValue(ctx, freshKey{}, true) }

func isFresh(ctx context.Context) bool { v, _ := ctx.Value(freshKey{}).(bool); return v }

type stateCache[T any] struct {
	mu      sync.Mutex
	entries map[string]cachedState[T]
	max     int
	ttl     time.Duration
	epoch   uint64 // advances on ForgetAll
	forgot  map[string]uint64
}

type cachedState[T any] struct {
	state   T
	version int64
	at      time.Time
}

// WithCache turns the cache on: at most max keys, each for at most ttl.
func (v *Versioned[T]) WithCache(max int, ttl time.Duration) *Versioned[T] {
	v.cache = &stateCache[T]{entries: map[string]cachedState[T]{}, forgot: map[string]uint64{}, max: max, ttl: ttl}
	return v
}

// Forget drops key (another replica changed it).
func (v *Versioned[T]) Forget(key string) {
	if c := v.cache; c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.entries, key)
		c.epoch++
		c.forgot[key] = c.epoch
		if len(c.forgot) > c.max {
			c.forgot = map[string]uint64{}
			c.entries = map[string]cachedState[T]{}
		}
	}
}

// ForgetAll drops everything (events may have been missed).
func (v *Versioned[T]) ForgetAll() {
	if c := v.cache; c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.epoch++
		c.entries = map[string]cachedState[T]{}
		c.forgot = map[string]uint64{}
	}
}

func (c *stateCache[T]) get(key string) (T, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || time.Since(e.at) > c.ttl {
		var zero T
		return zero, 0, false
	}
	return e.state, e.version, true
}

// ticket is taken before a store read, so that what a slow read brings
// back is not kept if the key was forgotten meanwhile.
func (c *stateCache[T]) ticket() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

func (c *stateCache[T]) put(key string, state T, version int64, ticket uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.forgot[key]; ok && f > ticket {
		return
	}
	if e, ok := c.entries[key]; ok && e.version > version {
		return
	}
	if len(c.entries) >= c.max {
		c.entries = map[string]cachedState[T]{}
	}
	c.entries[key] = cachedState[T]{state: state, version: version, at: time.Now()}
}
