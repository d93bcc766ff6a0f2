package gateway

import (
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

func signedLink(at time.Time, secs string) *string {
	u := "http://s3.example/b/k.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=" + at.UTC().Format("20060102T150405Z") + "&X-Amz-Expires=" + secs + "&X-Amz-Signature=ab"
	return &u
}

func TestLinksExpire(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	bad := "http://s3.example/b/k.jpg?X-Amz-Date=yesterday"
	for _, tc := range []struct {
		name string
		p    contract.Profile
		want time.Time
	}{
		{"no links", contract.Profile{}, time.Time{}},
		{"photo for an hour", contract.Profile{Image: signedLink(at, "3600")}, at.Add(time.Hour - linkMargin)},
		{"the earliest link wins", contract.Profile{Image: signedLink(at, "3600"), PassportImgBack: signedLink(at, "900")}, at.Add(15*time.Minute - linkMargin)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := linksExpire(tc.p); !got.Equal(tc.want) {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
	t.Run("an unreadable link is not cached", func(t *testing.T) {
		if got := linksExpire(contract.Profile{Image: &bad}); time.Until(got) > 0 {
			t.Fatalf("expires %v, in the future", got)
		}
	})
}

func TestCacheNeverServesPastALinkExpiry(t *testing.T) {
	c := newProfileCache(time.Hour, 10)
	c.put(1, []byte("a"), c.ticket(), time.Now().Add(-time.Second))
	if _, ok := c.get(1); ok {
		t.Fatal("served an answer whose link has expired")
	}
	c.put(2, []byte("b"), c.ticket(), time.Now().Add(time.Minute))
	c.put(3, []byte("c"), c.ticket(), time.Time{})
	for _, uid := range []int64{2, 3} {
		if _, ok := c.get(uid); !ok {
			t.Fatalf("user %d not cached", uid)
		}
	}
}

// The invalidation marks are bounded; dropping them must not let a fetch
// that started before an invalidation store its stale answer.
func TestCacheInvalidationMarksAreBounded(t *testing.T) {
	c := newProfileCache(time.Hour, 10)
	stale := c.ticket() // a fetch for user 1 starts
	for uid := range int64(maxInvalidations + 5) {
		c.invalidate(uid) // user 1 among them
	}
	if len(c.invalidated) > maxInvalidations {
		t.Fatalf("%d marks kept", len(c.invalidated))
	}
	c.put(1, []byte("stale"), stale, time.Time{})
	if _, ok := c.get(1); ok {
		t.Fatal("a fetch from before the invalidation was cached")
	}
	c.put(1, []byte("fresh"), c.ticket(), time.Time{})
	if _, ok := c.get(1); !ok {
		t.Fatal("a fresh fetch was not cached")
	}
}

func TestVerifiedTokensExpireAndAreBounded(t *testing.T) {
	v := newVerifiedTokens(2)
	now := time.Now()
	p := contract.Principal{UserID: 1, SessionID: "s"}
	v.put("a", p, now.Add(time.Minute))
	if got, ok := v.get("a", now); !ok || got != p {
		t.Fatal("a checked token is not remembered")
	}
	if _, ok := v.get("a", now.Add(time.Minute)); ok {
		t.Fatal("a token is remembered past its expiry")
	}
	if _, ok := v.get("a.", now); ok {
		t.Fatal("another string passed for a remembered token")
	}
	v.put("b", p, now.Add(time.Minute))
	v.put("c", p, now.Add(time.Minute))
	if len(v.entries) > 2 {
		t.Fatalf("%d entries, bound 2", len(v.entries))
	}
	v.forget()
	if _, ok := v.get("c", now); ok {
		t.Fatal("forget kept a token")
	}
}
