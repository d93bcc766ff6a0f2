package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

func TestUploadBudget(t *testing.T) {
	b := newUploadBudget(30, 20, 50*time.Millisecond)
	ctx := context.Background()
	relA, err := b.acquire(ctx, 1, 15)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.acquire(ctx, 1, 10); contract.ErrorCode(err) != contract.RateLimited || contract.AsError(err).RetryAfter == 0 {
		t.Fatalf("over the user's budget: %v", err)
	}
	relB, err := b.acquire(ctx, 2, 15)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.acquire(ctx, 3, 15); contract.ErrorCode(err) != contract.RateLimited || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("over the replica's budget: %v after %v", err, time.Since(start))
	}
	if n, _ := b.inFlight(3); n != 0 {
		t.Fatalf("a refused upload kept %d bytes of its user's budget", n)
	}
	// A waiting upload gets the bytes given back.
	got := make(chan error, 1)
	go func() {
		_, err := b.acquire(ctx, 3, 15)
		got <- err
	}()
	relA()
	relA() // once only
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	relB()
	if n, _ := b.inFlight(1); n != 0 {
		t.Fatalf("user 1 holds %d", n)
	}
	if _, err := b.acquire(ctx, 1, 15); err != nil {
		t.Fatalf("user 1 after release: %v", err)
	}
}
