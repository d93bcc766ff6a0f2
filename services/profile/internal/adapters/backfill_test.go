package adapters_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dossapp/backend/services/profile/internal/adapters"
	"github.com/dossapp/backend/services/profile/internal/wallet"
)

// Postings stored before the per-user lists existed are found once the
// store has started on them.
func TestPostingsWrittenBeforeTheListsAreFound(t *testing.T) {
	ctx := context.Background()
	fresh := ferret(t)
	c, lists := fresh(t), fresh(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []wallet.Posting{{ID: "wallet:old1", UserID: 1, Amount: 1, At: at}, {ID: "wallet:old2", UserID: 1, Amount: 2, At: at}, {ID: "wallet:other", UserID: 2, Amount: 3, At: at}} {
		if _, err := c.InsertOne(ctx, p); err != nil { // as the store wrote them before
			t.Fatal(err)
		}
	}
	p := adapters.NewPostings(c, lists)
	if err := p.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(ctx, wallet.Posting{ID: "wallet:new", UserID: 1, Amount: 4, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := adapters.NewPostings(c, lists).EnsureIndexes(ctx); err != nil { // another start
		t.Fatal(err)
	}
	ps, err := p.OfUser(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"wallet:new", "wallet:old1", "wallet:old2"}) {
		t.Fatalf("%v", got)
	}
}
