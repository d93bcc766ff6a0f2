package gateway

import (
	"sync"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

// verifiedTokens remembers tokens whose signature and claims were checked,
// until they expire: checking an Ed25519 signature was two thirds of a
// cache hit's CPU, and a token that verified once verifies again until its
// expiry. Revocation is checked on every request regardless; dropping a
// signing key forgets everything.
type verifiedTokens struct {
	mu      sync.RWMutex
	entries map[string]verifiedToken
	max     int
}

type verifiedToken struct {
	principal contract.Principal
	expires   time.Time
}

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{entries: map[string]verifiedToken{}, max: max}
}

func (v *verifiedTokens) get(raw string, now time.Time) (contract.Principal, bool) {
	v.mu.RLock()
	e, ok := v.entries[raw]
	v.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return contract.Principal{}, false
	}
	return e.principal, true
}

func (v *verifiedTokens) put(raw string, p contract.Principal, expires time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= v.max {
		v.entries = map[string]verifiedToken{} // crude but bounded
	}
	v.entries[raw] = verifiedToken{principal: p, expires: expires}
}

func (v *verifiedTokens) forget() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.entries = map[string]verifiedToken{}
}
