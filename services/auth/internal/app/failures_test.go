package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// A chain written before entries carried their failures is counted the
// old way once, and its first new entry carries the count on: two
// failures of a day (one given back, one a day old) leave two live.
func TestAFailureChainOfBeforeCarriesOn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	key := "fail:" + failKey(contract.PurposeRegisterEmail, "old@example.com")
	old := func(kind string) {
		t.Helper()
		if _, err := f.svc.Ledger.Append(ctx, key, func(domain.Tail, time.Time) (string, error) { return kind, nil }); err != nil {
			t.Fatal(err)
		}
	}
	old("fail") // no client: the oldest kind, a day old by the end
	f.advance(25 * time.Hour)
	old("f|aaaaaaaaaaaaaaaa")
	old("f|bbbbbbbbbbbbbbbb")
	old("u|aaaaaaaaaaaaaaaa")
	old("f|cccccccccccccccc")
	if err := f.svc.claimFailure(ctx, "verification_code", failKey(contract.PurposeRegisterEmail, "old@example.com"), "dddddddddddddddd"); err != nil {
		t.Fatal(err)
	}
	tail, err := f.svc.Ledger.Tail(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	newest, _, _ := tail.At(0)
	live, err := currentFailures(tail, f.clock())
	if err != nil {
		t.Fatal(err)
	}
	var clients []string
	for _, l := range live {
		clients = append(clients, l.client)
	}
	if got := strings.Join(clients, ","); got != "bbbbbbbb,cccccccc,dddddddd" {
		t.Fatalf("live failures %q (newest entry %q), want bbbbbbbb,cccccccc,dddddddd", got, newest.Kind)
	}
	// Its give-back takes back the one it claimed.
	f.svc.giveBackFailure(ctx, failKey(contract.PurposeRegisterEmail, "old@example.com"), "dddddddddddddddd")
	if tail, err = f.svc.Ledger.Tail(ctx, key); err != nil {
		t.Fatal(err)
	}
	if live, _ = currentFailures(tail, f.clock()); len(live) != 2 {
		t.Fatalf("%d live failures after the give-back, want 2", len(live))
	}
}
