package app

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

// The hour counts from the last finished export: a check alone spends
// nothing, two exports racing past the check record once, another account
// is not touched, and after the hour it runs again.
func TestExportOnceAnHourPerAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.account(1, "+18681230601", "4829")
	f.account(2, "+18681230602", "5830")
	a, b := f.mustLogin("+18681230601", "4829"), f.mustLogin("+18681230602", "5830")
	none := contract.ExportRequest{}

	for range 3 { // checks without a finished export spend nothing
		part, err := f.svc.Export(ctx, a, none)
		if err != nil {
			t.Fatal(err)
		}
		if part.Account.ID != 1 || part.Account.Phone != "+18681230601" || len(part.Sessions) != 1 {
			t.Fatalf("part %+v", part)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = f.svc.ExportDone(ctx, a, none) }()
	}
	wg.Wait()
	done := 0
	for _, err := range errs {
		if err == nil {
			done++
		} else if code(err) != contract.RateLimited {
			t.Fatalf("racing exports: %v", err)
		}
	}
	if done != 1 {
		t.Fatalf("%d of the racing exports recorded, want 1: %v", done, errs)
	}
	_, err := f.svc.Export(ctx, a, none)
	if e := contract.AsError(err); e.Code != contract.RateLimited || e.RetryAfter < 3590 || e.RetryAfter > 3600 {
		t.Fatalf("a second export within the hour: %+v", err)
	}
	if _, err := f.svc.Export(ctx, b, none); err != nil {
		t.Fatalf("another account's export: %v", err)
	}
	f.advance(contract.ExportInterval + time.Second)
	if _, err := f.svc.Export(ctx, a, none); err != nil {
		t.Fatalf("after the hour: %v", err)
	}
}

// The part names the caller's account and holds none of its secrets.
func TestExportHoldsNoSecret(t *testing.T) {
	f := newFixture(t)
	acc := f.account(3, "+18681230603", "4829")
	p := f.mustLogin("+18681230603", "4829")
	part, err := f.svc.Export(context.Background(), p, contract.ExportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(part)
	raw := string(b)
	for _, s := range []string{acc.PINHash, "argon2", "pepper"} {
		if strings.Contains(raw, s) {
			t.Errorf("the part holds %q: %s", s, raw)
		}
	}
	// A principal whose uuid is not its user's account gets nothing.
	p.UserID = 99
	if _, err := f.svc.Export(context.Background(), p, contract.ExportRequest{}); code(err) != contract.Unauthenticated {
		t.Fatalf("a mismatched principal: %v", err)
	}
}
