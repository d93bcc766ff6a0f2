package adapters

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
)

// findOne decodes the one document filter matches; contract.ErrNotFound
// when none does, a store failure wrapped as op.
func findOne[T any](ctx context.Context, c *mongo.Collection, op string, filter any, opts ...options.Lister[options.FindOneOptions]) (T, error) {
	var doc T
	err := c.FindOne(ctx, filter, opts...).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		var zero T
		return zero, contract.ErrNotFound
	}
	if err != nil {
		var zero T
		return zero, mongox.Wrap(op, err)
	}
	return doc, nil
}

// deleteOlder deletes the documents whose time field is older than age:
// the sweep of a store whose records nothing reads after that.
func deleteOlder(ctx context.Context, c *mongo.Collection, op, field string, age time.Duration) error {
	_, err := c.DeleteMany(ctx, bson.M{field: bson.M{"$lt": time.Now().Add(-age)}})
	return mongox.Wrap(op, err)
}
