package app

import (
	"context"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/mongox"
)

// The audit keeps each admin call about a user once, however often the
// stream delivers it, keeps none about no one, and a user's export lists
// only their own.
func TestAuditKeepsCallsAboutTheUserOnce(t *testing.T) {
	db := testDB(t)
	auth := &fakeAuth{accounts: map[int64]contract.Account{7: {ID: 7, UUID: "u-7"}, 8: {ID: 8, UUID: "u-8"}}}
	s := &Service{
		Profiles: mongox.NewVersioned[Profile](db.Collection("profiles")),
		Accounts: auth.get, Postings: db.Collection("postings"), Referrals: db.Collection("referrals"), Audit: db.Collection("audit"),
	}
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond)
	calls := []struct {
		user int64
		path string
	}{
		{7, "/admin/v1/users/7/wallet"}, {8, "/admin/v1/users/8/orders"}, {0, "/admin/v1/documents/3/approve"},
	}
	for _, c := range calls {
		ev, err := events.New(ctx, contract.EventAdminAudited, contract.AdminAudited{Admin: "alice", Method: "POST", Path: c.path, UserID: c.user, At: at})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // a redelivery
			if err := s.HandleAudit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := s.Audit.CountDocuments(ctx, map[string]any{}); err != nil || n != 2 {
		t.Fatalf("%d audit entries kept (%v), want 2", n, err)
	}
	x, err := s.Export(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Audit) != 1 || x.Audit[0].Path != "/admin/v1/users/7/wallet" || x.Audit[0].Admin != "alice" || !x.Audit[0].At.Equal(at) {
		t.Fatalf("user 7's audit: %+v", x.Audit)
	}
	if x.Profile.ID != 7 || x.AccountProfile.UserID != 7 || x.Wallet == nil || x.Orders == nil {
		t.Fatalf("user 7's export: %+v", x)
	}
}
