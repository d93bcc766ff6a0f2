package adapters_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/adapters"
	"github.com/dossapp/backend/services/auth/internal/app"
	"github.com/dossapp/backend/services/auth/internal/storetest"
)

// store is one embedded FerretDB for the package's tests, each given a
// collection of its own.
func store(t *testing.T) func(t *testing.T) *mongo.Collection {
	ks := testkit.Start(t)
	client, db, err := mongox.Connect(context.Background(), ks.Mongo.URI, "adapters")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	var n atomic.Int64
	return func(t *testing.T) *mongo.Collection { return db.Collection(fmt.Sprint("c", n.Add(1))) }
}

func TestClaims(t *testing.T) {
	collection := store(t)
	storetest.Claims(t, func(t *testing.T) app.ClaimStore { return adapters.NewClaims(collection(t)) })
}

func TestCounters(t *testing.T) {
	collection := store(t)
	storetest.Counters(t, func(t *testing.T) func() app.Counters {
		c := collection(t)
		return func() app.Counters { return adapters.NewCounters(mongox.NewLedger(c, nil)) }
	})
}

func TestNames(t *testing.T) {
	collection := store(t)
	storetest.Names(t, func(t *testing.T) app.NameStore { return adapters.NewVersionedNames(collection(t)) })
}
