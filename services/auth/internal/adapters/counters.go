package adapters

import (
	"context"
	"time"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Counters keeps each counter as a mongox.Ledger chain: the FerretDB-v1
// way, where an append is the unique insert of the chain's next number and
// a read follows the chain's head by _id.
type Counters struct{ l *mongox.Ledger }

func NewCounters(l *mongox.Ledger) *Counters { return &Counters{l: l} }

// tail is a ledger tail in the app's terms.
type tail struct{ t *mongox.Tail }

func (t tail) Empty() bool { return t.t.Empty() }

func (t tail) At(i int) (domain.Attempt, bool, error) {
	e, ok, err := t.t.At(i)
	return attempt(e), ok, err
}

func (t tail) First(n int) ([]domain.Attempt, error) {
	es, err := t.t.First(n)
	return attempts(es), err
}

func attempt(e mongox.Entry) domain.Attempt {
	return domain.Attempt{Key: e.Key, Seq: e.Seq, Kind: e.Kind, At: e.At}
}

func attempts(es []mongox.Entry) []domain.Attempt {
	if es == nil {
		return nil
	}
	out := make([]domain.Attempt, len(es))
	for i, e := range es {
		out[i] = attempt(e)
	}
	return out
}

func deciding(decide func(domain.Tail, time.Time) (string, error)) func(*mongox.Tail, time.Time) (string, error) {
	return func(t *mongox.Tail, now time.Time) (string, error) { return decide(tail{t}, now) }
}

func appendings(as []domain.Appending) []mongox.Appending {
	out := make([]mongox.Appending, len(as))
	for i, a := range as {
		out[i] = mongox.Appending{Key: a.Key, Decide: deciding(a.Decide)}
	}
	return out
}

func (c *Counters) Tail(ctx context.Context, key string) (domain.Tail, error) {
	t, err := c.l.Tail(ctx, key)
	if err != nil {
		return nil, err
	}
	return tail{t}, nil
}

func (c *Counters) Recalled(ctx context.Context, key string) (domain.Tail, error) {
	t, err := c.l.Recalled(ctx, key)
	if err != nil {
		return nil, err
	}
	return tail{t}, nil
}

func (c *Counters) Append(ctx context.Context, key string, decide func(domain.Tail, time.Time) (string, error)) (domain.Attempt, error) {
	e, err := c.l.Append(ctx, key, deciding(decide))
	return attempt(e), err
}

func (c *Counters) AppendAll(ctx context.Context, as ...domain.Appending) ([]domain.Attempt, error) {
	es, err := c.l.AppendAll(ctx, appendings(as)...)
	return attempts(es), err
}

func (c *Counters) AppendAllHeadsLater(ctx context.Context, as ...domain.Appending) ([]domain.Attempt, error) {
	es, err := c.l.AppendAllHeadsLater(ctx, appendings(as)...)
	return attempts(es), err
}

func (c *Counters) MoveHeads(ctx context.Context, keys ...string) { c.l.MoveHeads(ctx, keys...) }

func (c *Counters) Sweep(ctx context.Context, age time.Duration) (int64, error) {
	return c.l.Sweep(ctx, age)
}

func (c *Counters) Erase(ctx context.Context, pattern string) (int64, error) {
	return c.l.Erase(ctx, pattern)
}

func (c *Counters) EnsureIndexes(ctx context.Context) error { return c.l.EnsureIndexes(ctx) }
