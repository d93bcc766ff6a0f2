package adapters

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// ReviewQueue is one document per document id, {_id, user_id, pending}:
// owner lookups and settling are _id operations on any store; listing the
// queue and erasing a user query the other fields, off the user's request
// paths.
//
// The _id is the document id as a string of 19 digits (QueueKey): FerretDB
// v1 answers only a string or ObjectID _id from its index, and the zero
// padding keeps the string order the numeric one. Entries written before
// were keyed by the number itself: EnsureIndexes moves them to their
// string key once (a marker says it is done), and Awaiting moves any it
// still meets (one a replica of the old shape wrote during a rolling
// update), so an entry a reviewer sees is found by its key. A number sorts
// before any string, so such entries still come first, as the older ones
// they are.
type ReviewQueue struct {
	c *mongo.Collection
}

var _ app.ReviewQueue = (*ReviewQueue)(nil)

func NewReviewQueue(c *mongo.Collection) *ReviewQueue { return &ReviewQueue{c: c} }

func (q *ReviewQueue) EnsureIndexes(ctx context.Context) error {
	if err := mongox.EnsureIndexes(ctx, q.c, map[string]bson.D{"pending": {{Key: "pending", Value: 1}}}); err != nil {
		return err
	}
	return q.moveNumericKeys(ctx)
}

// numericKeysMoved marks the queue's entries of the numeric shape moved.
const numericKeysMoved = "numeric-keys-moved"

// moveNumericKeys gives every entry keyed by its number the string key,
// once: later starts find the marker by _id and read nothing else. Two
// replicas moving at once each insert what the other may have: a
// duplicate is the same entry.
func (q *ReviewQueue) moveNumericKeys(ctx context.Context) error {
	err := q.c.FindOne(ctx, bson.M{"_id": numericKeysMoved}).Err()
	if err == nil {
		return nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return mongox.Wrap("review queue keys", err)
	}
	cur, err := q.c.Find(ctx, bson.M{"_id": bson.M{"$type": "number"}})
	if err != nil {
		return mongox.Wrap("review queue keys", err)
	}
	var old []numericEntry
	if err := cur.All(ctx, &old); err != nil {
		return mongox.Wrap("review queue keys", err)
	}
	for _, e := range old {
		if err := q.moveKey(ctx, e); err != nil {
			return err
		}
	}
	if _, err := q.c.InsertOne(ctx, bson.M{"_id": numericKeysMoved}); err != nil && !mongox.IsDuplicate(err) {
		return mongox.Wrap("review queue keys", err)
	}
	return nil
}

// numericEntry is an entry as the queue stored it before QueueKey.
type numericEntry struct {
	ID      int64 `bson:"_id"`
	UserID  int64 `bson:"user_id"`
	Pending bool  `bson:"pending"`
}

func (q *ReviewQueue) moveKey(ctx context.Context, e numericEntry) error {
	if _, err := q.c.InsertOne(ctx, QueueEntry(e.ID, e.UserID, e.Pending)); err != nil && !mongox.IsDuplicate(err) {
		return mongox.Wrap("review queue keys", err)
	}
	_, err := q.c.DeleteOne(ctx, bson.M{"_id": e.ID})
	return mongox.Wrap("review queue keys", err)
}

// QueueKey is document id's _id in the review queue.
func QueueKey(id int64) string { return fmt.Sprintf("%019d", id) }

// QueueEntry is the queue's entry for document id, as Add stores it (make
// seed writes them in bulk).
func QueueEntry(id, userID int64, pending bool) any {
	return queueEntry{ID: QueueKey(id), UserID: userID, Pending: pending}
}

type queueEntry struct {
	ID      string `bson:"_id"`
	UserID  int64  `bson:"user_id"`
	Pending bool   `bson:"pending"`
}

func (q *ReviewQueue) Add(ctx context.Context, id, userID int64) error {
	_, err := q.c.InsertOne(ctx, QueueEntry(id, userID, true))
	return mongox.Wrap("document id", err)
}

func (q *ReviewQueue) Owner(ctx context.Context, id int64) (int64, error) {
	var e struct {
		UserID int64 `bson:"user_id"`
	}
	err := q.c.FindOne(ctx, bson.M{"_id": QueueKey(id)}).Decode(&e)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, contract.DocumentNotFound()
	}
	if err != nil {
		return 0, mongox.Wrap("document owner", err)
	}
	return e.UserID, nil
}

func (q *ReviewQueue) Settle(ctx context.Context, id int64) error {
	_, err := q.c.UpdateOne(ctx, bson.M{"_id": QueueKey(id)}, bson.M{"$set": bson.M{"pending": false}})
	return mongox.Wrap("settle document", err)
}

func (q *ReviewQueue) Awaiting(ctx context.Context, limit int) ([]app.QueueMark, error) {
	cur, err := q.c.Find(ctx, bson.M{"pending": true}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, mongox.Wrap("review queue", err)
	}
	var entries []struct {
		ID     bson.RawValue `bson:"_id"` // a QueueKey, or the number itself
		UserID int64         `bson:"user_id"`
	}
	if err := cur.All(ctx, &entries); err != nil {
		return nil, mongox.Wrap("review queue", err)
	}
	marks := make([]app.QueueMark, 0, len(entries))
	for _, e := range entries {
		key, _ := e.ID.StringValueOK()
		id, err := strconv.ParseInt(key, 10, 64)
		if n, numeric := e.ID.AsInt64OK(); numeric {
			id, err = n, q.moveKey(ctx, numericEntry{ID: n, UserID: e.UserID, Pending: true})
		}
		if err != nil {
			return nil, err
		}
		marks = append(marks, app.QueueMark{ID: id, UserID: e.UserID})
	}
	return marks, nil
}

func (q *ReviewQueue) EraseUser(ctx context.Context, userID int64) error {
	_, err := q.c.DeleteMany(ctx, bson.M{"user_id": userID})
	return mongox.Wrap("erase document ids", err)
}
