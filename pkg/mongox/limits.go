package mongox

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// LedgerLimits counts hits per key in a sliding window, the FerretDB v1
// way: a Ledger, a chain of uniquely inserted entries whose newest carries
// the packed tail of the ones before, since FerretDB v1 has no atomic
// $inc. A store with one would count in a document per key with a TTL
// index.
type LedgerLimits struct {
	ledger *Ledger
}

// NewLedgerLimits keeps the chains in c; now is time.Now when nil.
func NewLedgerLimits(c *mongo.Collection, now func() time.Time) LedgerLimits {
	return LedgerLimits{ledger: NewLedger(c, now)}
}

func (l LedgerLimits) EnsureIndexes(ctx context.Context) error { return l.ledger.EnsureIndexes(ctx) }

var errLimitReached = errors.New("limit reached")

// Hit takes one of key's limit hits in window, or says how long until
// the oldest of them leaves it (nothing is taken then).
func (l LedgerLimits) Hit(ctx context.Context, key string, limit int, window time.Duration) (time.Duration, error) {
	var wait time.Duration
	_, err := l.ledger.Append(ctx, key, func(tail *Tail, now time.Time) (string, error) {
		wait = 0
		if limit <= 0 {
			return "hit", nil
		}
		oldest, ok, err := tail.At(limit - 1)
		if err != nil {
			return "", err
		}
		if w := oldest.At.Add(window).Sub(now); ok && w > 0 {
			wait = w
			return "", errLimitReached
		}
		return "hit", nil
	})
	if errors.Is(err, errLimitReached) {
		return wait, nil
	}
	return 0, err
}
