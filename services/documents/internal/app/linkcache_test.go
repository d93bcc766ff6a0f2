package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

// signer signs links whose expiry it remembers, on a clock the test moves.
type signer struct {
	Files
	now     *time.Time
	expires map[string]time.Time
}

func (s *signer) GetURL(_ context.Context, key string, ttl time.Duration) (string, error) {
	u := fmt.Sprintf("https://s3.example/%s?n=%d", key, len(s.expires))
	s.expires[u] = s.now.Add(ttl)
	return u, nil
}

// A listed document's link is reused within half its life and signed
// again from then on; no link is served with less than half its life left,
// a clock that goes back gets a new one, and an export signs afresh.
func TestLinksAreKeptForHalfTheirLife(t *testing.T) {
	const ttl = 15 * time.Minute
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	files := &signer{now: &now, expires: map[string]time.Time{}}
	s := &Service{Files: files, Limits: Limits{LinkTTL: ttl}, Now: func() time.Time { return now }}
	d := Doc{ID: 1, TypeID: 1, Key: "documents/7/a.jpg"}
	serve := func() string {
		t.Helper()
		doc, err := s.document(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if left := files.expires[doc.File].Sub(now); left < ttl/2 {
			t.Fatalf("at %s a link with %s left, less than half its life", now.Format(time.TimeOnly), left)
		}
		return doc.File
	}

	first := serve()
	now = now.Add(ttl/2 - time.Second)
	if again := serve(); again != first {
		t.Fatalf("re-signed within half its life: %s, then %s", first, again)
	}
	now = now.Add(time.Second)
	second := serve()
	if second == first {
		t.Fatal("the link was served at half its life")
	}
	for range 40 { // across several half-lives, in uneven steps
		now = now.Add(47 * time.Second)
		serve()
	}
	if n := len(files.expires); n < 4 || n > 6 {
		t.Fatalf("%d signatures over 31 minutes, want one per half-life", n)
	}
	signed := len(files.expires)
	now = now.Add(-time.Minute)
	serve()
	if len(files.expires) != signed+1 {
		t.Fatal("a clock that went back was served the link signed after it")
	}

	other := Doc{ID: 2, TypeID: 2, Key: "documents/7/b.jpg"}
	if doc, _ := s.document(context.Background(), other); doc.File == serve() {
		t.Fatal("two objects share a link")
	}
	s.Docs = fixedDocs{Docs{UserID: 7, Items: []Doc{d}}}
	before := len(files.expires)
	for range 2 {
		if _, err := s.Export(context.Background(), 7); err != nil {
			t.Fatal(err)
		}
	}
	if len(files.expires) != before+2 {
		t.Fatal("an export served a kept link")
	}
}

// fixedDocs is a user's documents that never change.
type fixedDocs struct{ d Docs }

func (f fixedDocs) Get(context.Context, int64) (Docs, int64, error) { return f.d, 1, nil }

func (f fixedDocs) Update(context.Context, int64, func(*Docs, int64) ([]contract.Event, error)) (Docs, int64, error) {
	panic("not changed here")
}

func (f fixedDocs) Erase(context.Context, int64) error { panic("not erased here") }
