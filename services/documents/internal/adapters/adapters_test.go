package adapters_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/services/documents/internal/adapters"
	"github.com/dossapp/backend/services/documents/internal/app"
	"github.com/dossapp/backend/services/documents/internal/storetest"
)

// fresh names a collection no other store of the test has used.
func fresh(db *mongo.Database, prefix string) *mongo.Collection {
	return db.Collection(fmt.Sprintf("%s_%d", prefix, seq.Add(1)))
}

var seq atomic.Int64

func TestFerretV1Documents(t *testing.T) {
	db := adapters.Ferret(t)
	storetest.Documents(t, func(t *testing.T) app.Documents {
		s := adapters.NewFerretV1Documents(fresh(db, "documents_docs"))
		if err := s.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReviewQueue(t *testing.T) {
	db := adapters.Ferret(t)
	storetest.ReviewQueue(t, func(t *testing.T) app.ReviewQueue {
		q := adapters.NewReviewQueue(fresh(db, "documents_ids"))
		if err := q.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return q
	})
}

func TestFerretV1IDs(t *testing.T) {
	db := adapters.Ferret(t)
	storetest.IDs(t, func(t *testing.T) app.IDs {
		s := adapters.NewFerretV1IDs(fresh(db, "documents_seq"))
		if err := s.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}
