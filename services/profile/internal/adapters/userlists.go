package adapters

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
)

// userList is one document per user (what they own in some collection,
// or a summary of it) kept as a mongox version chain under prefix:<id>,
// the FerretDB v1 way: there a filter on anything but a lone _id reads
// the whole table (its SQLite backend pushes down only {_id: <string or
// ObjectID>}; an $in or a second condition is filtered in Go), so a
// user's things are found from their list, and every change to the list
// is the unique insert of its next version, so concurrent adds from
// several replicas are not lost. A store with indexes that work would
// query by user instead.
type userList[T any] struct {
	chain  *mongox.Versioned[packed[T]]
	prefix string
}

func newUserList[T any](c *mongo.Collection, prefix string) userList[T] {
	return userList[T]{chain: mongox.NewVersioned[packed[T]](c), prefix: prefix}
}

func (l userList[T]) key(userID int64) string { return l.prefix + ":" + strconv.FormatInt(userID, 10) }

// get returns the user's document; the zero T when they have none. Two
// _id lookups (the head and a probe for a newer version).
func (l userList[T]) get(ctx context.Context, userID int64) (T, error) {
	p, _, err := l.chain.Get(ctx, l.key(userID))
	if errors.Is(err, mongox.ErrNotFound) {
		return p.V, nil
	}
	return p.V, err
}

var errUnchanged = errors.New("unchanged")

// change applies fn to the user's document (the zero T when they have
// none) and stores the result; fn returns false to store nothing.
func (l userList[T]) change(ctx context.Context, userID int64, fn func(*T) bool) error {
	key := l.key(userID)
	for range 16 {
		_, err := l.chain.Update(ctx, key, func(p *packed[T]) ([]contract.Event, error) {
			if !fn(&p.V) {
				return nil, errUnchanged
			}
			return nil, nil
		})
		if err == nil || errors.Is(err, errUnchanged) {
			return nil
		}
		if !errors.Is(err, mongox.ErrNotFound) {
			return err
		}
		var first packed[T]
		if !fn(&first.V) {
			return nil
		}
		// Losing the first version to another writer: update theirs.
		if err := l.chain.Put(ctx, key, 0, first, nil); !errors.Is(err, mongox.ErrStale) {
			return err
		}
	}
	return mongox.Wrap("user list", errors.New(key+": too much contention"))
}

// erase removes the user's document and its versions (an account's purge).
func (l userList[T]) erase(ctx context.Context, userID int64) error {
	return l.chain.Erase(ctx, l.key(userID))
}

// backfillOnce runs fill, which builds the lists of what was written
// before them, unless a run of it finished before (a marker under its
// name): the scan it needs is paid once, at a start, not per request.
// Replicas starting together may both run it: fill must be idempotent.
func (l userList[T]) backfillOnce(ctx context.Context, fill func(ctx context.Context) error) error {
	c, marker := l.chain.Collection(), "backfilled:"+l.prefix
	err := c.FindOne(ctx, bson.M{"_id": marker}).Err()
	if err == nil {
		return nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return mongox.Wrap("user list backfill", err)
	}
	if err := fill(ctx); err != nil {
		return err
	}
	// published keeps the relay's pass off it, no key the sweep.
	_, err = c.InsertOne(ctx, bson.M{"_id": marker, "published": true, "at": time.Now().UTC()})
	if mongox.IsDuplicate(err) {
		return nil
	}
	return mongox.Wrap("user list backfill", err)
}

// packed stores a value as one BSON binary holding its own encoding:
// FerretDB v1 converts every array element to and from JSON with its
// schema on each read and write, which a list of hundreds would pay on
// every change.
type packed[T any] struct{ V T }

type packedDoc[T any] struct {
	V T `bson:"v"`
}

func (p packed[T]) MarshalBSONValue() (byte, []byte, error) {
	raw, err := bson.Marshal(packedDoc[T]{V: p.V})
	if err != nil {
		return 0, nil, err
	}
	typ, data, err := bson.MarshalValue(bson.Binary{Data: raw})
	return byte(typ), data, err
}

func (p *packed[T]) UnmarshalBSONValue(typ byte, data []byte) error {
	raw := bson.RawValue{Type: bson.Type(typ), Value: data}
	if raw.Type == bson.TypeNull {
		*p = packed[T]{}
		return nil
	}
	_, b, ok := raw.BinaryOK()
	if !ok {
		return errors.New("user list: not a packed value")
	}
	var d packedDoc[T]
	if err := bson.Unmarshal(b, &d); err != nil {
		return err
	}
	p.V = d.V
	return nil
}
