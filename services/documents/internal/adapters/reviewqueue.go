package adapters

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// ReviewQueue is one document per document id, {_id: id, user_id,
// pending}: owner lookups and settling are _id operations on any store;
// listing the queue and erasing a user query the other fields, off the
// user's request paths.
type ReviewQueue struct {
	c *mongo.Collection
}

var _ app.ReviewQueue = (*ReviewQueue)(nil)

func NewReviewQueue(c *mongo.Collection) *ReviewQueue { return &ReviewQueue{c: c} }

func (q *ReviewQueue) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, q.c, map[string]bson.D{"pending": {{Key: "pending", Value: 1}}})
}

type queueEntry struct {
	ID      int64 `bson:"_id"`
	UserID  int64 `bson:"user_id"`
	Pending bool  `bson:"pending"`
}

func (q *ReviewQueue) Add(ctx context.Context, id, userID int64) error {
	_, err := q.c.InsertOne(ctx, queueEntry{ID: id, UserID: userID, Pending: true})
	return mongox.Wrap("document id", err)
}

func (q *ReviewQueue) Owner(ctx context.Context, id int64) (int64, error) {
	var e queueEntry
	err := q.c.FindOne(ctx, bson.M{"_id": id}).Decode(&e)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, contract.DocumentNotFound()
	}
	if err != nil {
		return 0, mongox.Wrap("document owner", err)
	}
	return e.UserID, nil
}

func (q *ReviewQueue) Settle(ctx context.Context, id int64) error {
	_, err := q.c.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"pending": false}})
	return mongox.Wrap("settle document", err)
}

func (q *ReviewQueue) Awaiting(ctx context.Context, limit int) ([]app.QueueMark, error) {
	cur, err := q.c.Find(ctx, bson.M{"pending": true}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, mongox.Wrap("review queue", err)
	}
	var entries []queueEntry
	if err := cur.All(ctx, &entries); err != nil {
		return nil, mongox.Wrap("review queue", err)
	}
	marks := make([]app.QueueMark, 0, len(entries))
	for _, e := range entries {
		marks = append(marks, app.QueueMark{ID: e.ID, UserID: e.UserID})
	}
	return marks, nil
}

func (q *ReviewQueue) EraseUser(ctx context.Context, userID int64) error {
	_, err := q.c.DeleteMany(ctx, bson.M{"user_id": userID})
	return mongox.Wrap("erase document ids", err)
}
