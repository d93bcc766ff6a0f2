package app

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/auth/internal/adapters"
)

// opCounter counts the store's commands, by name and collection.
type opCounter struct {
	mu  sync.Mutex
	ops []string
}

func (c *opCounter) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.ops = append(c.ops, e.CommandName+" "+coll)
	}}
}

func (c *opCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.ops
	c.ops = nil
	sort.Strings(out)
	return out
}

// monitored points f's service at the same store through a client whose
// every command is counted.
func (f *fixture) monitored() *opCounter {
	f.t.Helper()
	c := &opCounter{}
	client, err := mongo.Connect(options.Client().ApplyURI(f.uri).SetMonitor(c.monitor()))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	db := client.Database(f.db.Name())
	s := f.svc
	s.Accounts = adapters.NewChains[Account](db.Collection("auth_accounts"))
	s.OTPs = adapters.NewChainedCodes(db.Collection("auth_otps"))
	s.Claims, s.Sessions = adapters.NewClaims(db.Collection("auth_claims")), adapters.NewSessions(db.Collection("auth_sessions"), db.Collection("auth_session_revocations"))
	s.Challenges = adapters.NewChallenges(db.Collection("auth_challenges"))
	s.Ledger = adapters.NewCounters(mongox.NewLedger(db.Collection("auth_ledger"), f.clock))
	s.IDs = adapters.NewCounters(mongox.NewLedger(db.Collection("auth_ids"), f.clock))
	// As in production: without it, a names read would go uncounted.
	s.Names = adapters.NewVersionedNames(db.Collection("auth_names"))
	return c
}

// A login costs a known number of store operations, from an unknown device
// and from a trusted one, once the process has seen the account (the
// life of a login in docs/performance.md counts them), its names included:
// they are in the account.
func TestLoginStoreOperations(t *testing.T) {
	f := newFixture(t)
	const phone = "+18681239109"
	f.account(1, phone, "4829")
	ops := f.monitored()
	for _, c := range []struct {
		name, device string
		max          int
		before       int // logins before the counted one
	}{
		{"no device token", "", 6, 1},
		{"trusted device", "owner-fcm", 6, 1},
		// However many came before it that day.
		{"no device token, 40th of the day", "", 6, 39},
	} {
		t.Run(c.name, func(t *testing.T) {
			// As the gateway calls it, with the client's address.
			ctx := natsx.WithCaller(context.Background(), natsx.Caller{Client: contract.Client{IP: "10.0.0.9"}})
			login := func() {
				r, err := f.svc.Login(ctx, contract.LoginRequest{Phone: phone, Password: "4829", DeviceToken: c.device}, contract.Client{IP: "10.0.0.9"})
				if err != nil || r.Session == nil {
					t.Fatalf("login: %+v %v", r, err)
				}
			}
			for range c.before {
				login() // the device is trusted from here
			}
			ops.take()
			login()
			got := ops.take()
			t.Logf("%d store operations: %s", len(got), strings.Join(got, ", "))
			if len(got) > c.max {
				t.Fatalf("%d store operations, want at most %d", len(got), c.max)
			}
		})
	}
}

// A login skips the phone's claim for the account it last found there,
// and only while that account is still active on the phone: once the
// number moves to another account, its new owner's PIN logs in and the
// old owner's no longer does.
func TestLoginFollowsAPhoneThatMoved(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const phone = "+18681239108"
	old := f.account(1, phone, "4829")
	if _, err := f.login(phone, "4829"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Accounts.Update(ctx, old.UUID, func(a *Account) ([]contract.Event, error) {
		a.Phone = "+18681239100"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Claims.Release(ctx, old.UUID, "phone:"+phone); err != nil {
		t.Fatal(err)
	}
	f.account(2, phone, "1357")
	r, err := f.login(phone, "1357")
	if err != nil || r.Session == nil || r.Session.User.ID != 2 {
		t.Fatalf("the new owner's login: %+v %v", r, err)
	}
	if _, err := f.login(phone, "4829"); code(err) != contract.Unauthenticated {
		t.Fatalf("the old owner's PIN on the moved number: %v", err)
	}
}
