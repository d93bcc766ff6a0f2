package authsvc

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/app"
)

// SeedAccount is one account for Seed: active, both contacts verified,
// its PIN set, as a whole registration leaves it.
type SeedAccount struct {
	UUID   string
	UserID int64
	Email  string // normalised, as registration stores it
	Phone  string // E.164
}

// Seed writes accounts straight into auth's collections in bulk, for a
// store grown to many accounts (make seed), in the shape ConfirmPIN
// leaves: the account's first version and head, and its email, phone and
// user id claims. Every account gets pin, hashed once with the pepper and
// cost getenv configures (the service's own), so each can log in. It
// writes the raw collections, not through the app's stores, which are
// being moved behind interfaces: a seed-only helper, no request path.
// The user ids are the caller's: they do not advance the allocator, so
// pick a range it will not reach.
func Seed(ctx context.Context, getenv func(string) string, db *mongo.Database, pin string, accounts []SeedAccount) ([]contract.Account, error) {
	e := config.New(getenv)
	dev := e.ReadCommon().Dev()
	pepper := e.Secret("DOSS_PIN_PEPPER", 32, dev, devSecret("pepper"))
	argon := app.Argon2{MemoryKiB: uint32(e.Int("DOSS_ARGON2_MEMORY_KIB", 19456)), Time: uint32(e.Int("DOSS_ARGON2_TIME", 2)), Threads: 1}
	if err := e.Err(); err != nil {
		return nil, err
	}
	if err := app.ValidatePIN("pin", pin); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	hash := app.NewHasher(argon, pepper).Hash(pin)
	now := time.Now().UTC()
	var versions, claims []any
	out := make([]contract.Account, 0, len(accounts))
	for _, a := range accounts {
		acc := app.Account{
			UUID: a.UUID, UserID: a.UserID, Email: a.Email, Phone: a.Phone,
			EmailVerifiedAt: &now, PhoneVerifiedAt: &now, PINHash: hash, Active: true, CreatedAt: now, NamesIn: true,
		}
		versions = append(versions, mongox.Settled(a.UUID, acc, now)...)
		for _, key := range []string{"email:" + a.Email, "phone:" + a.Phone, "uid:" + strconv.FormatInt(a.UserID, 10)} {
			claims = append(claims, seedClaim{ID: key, Owner: a.UUID, At: now})
		}
		out = append(out, contract.Account{ID: a.UserID, UUID: a.UUID, Email: a.Email, Phone: a.Phone,
			EmailVerifiedAt: &now, PhoneVerifiedAt: &now, CreatedAt: now})
	}
	if err := mongox.Seed(ctx, db, map[string][]any{"auth_accounts": versions, "auth_claims": claims}); err != nil {
		return nil, err
	}
	return out, nil
}

// seedClaim is a claim as the claims adapter stores it.
type seedClaim struct {
	ID    string    `bson:"_id"`
	Owner string    `bson:"uuid"`
	At    time.Time `bson:"at"`
}
