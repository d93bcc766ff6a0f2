package storetest

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/embedded/testkit"
)

// FerretDB starts an embedded FerretDB v1 on SQLite for the test and
// returns a database on it.
func FerretDB(t *testing.T) *mongo.Database { return testkit.Database(t, "profile_test") }
