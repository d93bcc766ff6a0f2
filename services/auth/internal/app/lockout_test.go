package app

import (
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/mongox"
)

func chain(kinds string, last time.Time) []mongox.Entry {
	// kinds oldest first: f = fail, o = ok; returned newest first.
	out := make([]mongox.Entry, len(kinds))
	for i := range kinds {
		k := "fail"
		if kinds[i] == 'o' {
			k = "ok"
		}
		out[len(kinds)-1-i] = mongox.Entry{Kind: k, At: last}
	}
	return out
}

func TestLockoutEscalates(t *testing.T) {
	lim := DefaultLimits()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		kinds string
		ago   time.Duration
		wait  time.Duration
	}{
		{"four failures", "ffff", 0, 0},
		{"five failures", "fffff", 0, time.Minute},
		{"five, lock over", "fffff", 2 * time.Minute, 0},
		{"a success resets", "fffffofff", 0, 0},
		{"ten failures", "ffffffffff", 0, 2 * time.Minute},
		{"fifteen failures", "fffffffffffffff", time.Minute, 3 * time.Minute},
		{"sixty failures hit the cap", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 0, 24 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, wait := lockout(chain(c.kinds, now.Add(-c.ago)), now, lim)
			if wait != c.wait {
				t.Fatalf("wait %v, want %v", wait, c.wait)
			}
		})
	}
}
