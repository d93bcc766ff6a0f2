package storetest

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/embedded"
)

// FerretDB starts an embedded FerretDB v1 on SQLite for the test and
// returns a database on it.
func FerretDB(t *testing.T) *mongo.Database {
	t.Helper()
	m, err := embedded.StartFerretDB(context.Background(), t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database("profile_test")
}
