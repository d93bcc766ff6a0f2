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

func TestChainsAsAccounts(t *testing.T) {
	collection := store(t)
	storetest.Accounts(t, func(t *testing.T) func() app.Accounts {
		c := collection(t)
		if err := adapters.NewChains[app.Account](c).EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return func() app.Accounts { return adapters.NewChains[app.Account](c) }
	})
}

func TestChainedCodes(t *testing.T) {
	collection := store(t)
	storetest.Codes(t, func(t *testing.T) app.Codes {
		c := adapters.NewChainedCodes(collection(t))
		if err := c.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestChallenges(t *testing.T) {
	collection := store(t)
	storetest.Challenges(t, func(t *testing.T) app.Challenges {
		c := adapters.NewChallenges(collection(t))
		if err := c.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestStaffStores(t *testing.T) {
	collection := store(t)
	t.Run("accounts", func(t *testing.T) {
		storetest.StaffAccounts(t, func(t *testing.T) app.StaffAccounts { return adapters.NewStaffAccounts(collection(t)) })
	})
	t.Run("sessions", func(t *testing.T) {
		storetest.StaffSessions(t, func(t *testing.T) app.StaffSessions { return adapters.NewStaffSessions(collection(t)) })
	})
	t.Run("used codes", func(t *testing.T) {
		storetest.UsedCodes(t, func(t *testing.T) app.UsedCodes { return adapters.NewUsedCodes(collection(t)) })
	})
	t.Run("audit trail", func(t *testing.T) {
		storetest.AuditTrail(t, func(t *testing.T) app.AuditTrail { return adapters.NewAuditTrail(collection(t)) })
	})
}
