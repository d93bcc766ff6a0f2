package adapters_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/profile/internal/adapters"
	"github.com/dossapp/backend/services/profile/internal/app"
	"github.com/dossapp/backend/services/profile/internal/storetest"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

// ferret gives each store a collection of its own on one embedded
// FerretDB.
func ferret(t *testing.T) (fresh func(t *testing.T) *mongo.Collection) {
	db := storetest.FerretDB(t)
	var n atomic.Int64
	return func(t *testing.T) *mongo.Collection { return db.Collection(fmt.Sprint("c", n.Add(1))) }
}

func TestVersionedProfiles(t *testing.T) {
	fresh := ferret(t)
	storetest.Profiles(t, func(t *testing.T) func() app.Profiles {
		c := fresh(t)
		if err := adapters.NewVersionedProfiles(c).EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return func() app.Profiles { return adapters.NewVersionedProfiles(c) }
	})
}

func TestLedgerLimits(t *testing.T) {
	fresh := ferret(t)
	storetest.Limits(t, func(t *testing.T, now func() time.Time) func() app.Limits {
		c := fresh(t)
		if err := mongox.NewLedgerLimits(c, now).EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return func() app.Limits { return mongox.NewLedgerLimits(c, now) }
	})
}

func TestPostings(t *testing.T) {
	fresh := ferret(t)
	storetest.Postings(t, func(t *testing.T) func() wallet.Postings {
		c, lists := fresh(t), fresh(t)
		if err := adapters.NewPostings(c, lists).EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return func() wallet.Postings { return adapters.NewPostings(c, lists) }
	})
}

func TestReferralCodes(t *testing.T) {
	fresh := ferret(t)
	storetest.ReferralCodes(t, func(t *testing.T) wallet.ReferralCodes { return adapters.ReferralCodes{C: fresh(t)} })
}

func TestPasses(t *testing.T) {
	fresh := ferret(t)
	storetest.PassStore(t, func(t *testing.T) func() app.PassStore {
		issues, revocations, shown, lists := fresh(t), fresh(t), fresh(t), fresh(t)
		if err := adapters.NewPasses(issues, revocations, shown, lists).EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
		return func() app.PassStore { return adapters.NewPasses(issues, revocations, shown, lists) }
	})
}
