package adapters_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/documents/internal/adapters"
	"github.com/dossapp/backend/services/documents/internal/app"
	"github.com/dossapp/backend/services/documents/internal/storetest"
)

// ferret starts an embedded FerretDB for t and opens a database on it.
func ferret(t *testing.T) *mongo.Database {
	t.Helper()
	m, err := embedded.StartFerretDB(context.Background(), t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	client, db, err := mongox.Connect(context.Background(), m.URI, "documents")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return db
}

// fresh names a collection no other store of the test has used.
func fresh(db *mongo.Database, prefix string) *mongo.Collection {
	return db.Collection(fmt.Sprintf("%s_%d", prefix, seq.Add(1)))
}

var seq atomic.Int64

func TestFerretV1Documents(t *testing.T) {
	db := ferret(t)
	storetest.Documents(t, func(t *testing.T) app.Documents {
		s := adapters.NewFerretV1Documents(fresh(db, "documents_docs"))
		if err := s.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReviewQueue(t *testing.T) {
	db := ferret(t)
	storetest.ReviewQueue(t, func(t *testing.T) app.ReviewQueue {
		q := adapters.NewReviewQueue(fresh(db, "documents_ids"))
		if err := q.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return q
	})
}

func TestFerretV1IDs(t *testing.T) {
	db := ferret(t)
	storetest.IDs(t, func(t *testing.T) app.IDs {
		s := adapters.NewFerretV1IDs(fresh(db, "documents_seq"))
		if err := s.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}
