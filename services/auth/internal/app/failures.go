package app

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dossapp/backend/pkg/contract"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// An address's failed code checks are counted in its "fail:" chain. Each
// entry carries the failures still live after it (a day's, at most
// MaxFailuresPerDay, each with its time and its client), so one read of the
// newest entry is the whole count, however many entries came before.
// Counting entries instead (a claim "f", a give-back "u") let a stranger
// push real failures out of the entries read: a check that compared
// nothing adds a claim and its give-back, so about 130 of them hid the
// day's failures and reopened the cap.
//
//	f|<client>|<live>   a claim: the check counts as failed until given back
//	u|<client>|<live>   a give-back (a match, or nothing compared)
//
// <live> is "<unix seconds, base 36>~<client tag's first 8>" joined by
// commas, oldest first. Entries of before (no list) are read by a bounded
// walk until the first entry with one.

// MaxFailuresPerDay is how many failures an entry can carry inside its 255
// bytes: the largest FailuresPerDay the chain can count (authsvc refuses
// a larger one).
const MaxFailuresPerDay = 14

type failure struct {
	at     time.Time
	client string // the client tag's first 8 characters ("" for a legacy "fail")
}

func shortClient(client string) string { return client[:min(len(client), 8)] }

// currentFailures is the chain's failures less than a day old as of now:
// the newest entry's list, with any entries of before above it applied
// (a replica of the old kind may still be writing during an upgrade); a
// chain with no list in the day's entries is counted as it was before,
// from at most legacyFailureScan of them.
func currentFailures(tail domain.Tail, now time.Time) ([]failure, error) {
	var above []domain.Attempt // entries of before, newest first
	var live []failure
	for i := range legacyFailureScan {
		e, ok, err := tail.At(i)
		if err != nil {
			return nil, err
		}
		if !ok || now.Sub(e.At) >= 24*time.Hour {
			break
		}
		_, rest, _ := strings.Cut(e.Kind, "|")
		if _, list, carried := strings.Cut(rest, "|"); carried {
			live = parseFailures(list, now)
			break
		}
		above = append(above, e)
	}
	for _, e := range slices.Backward(above) {
		kind, client, _ := strings.Cut(e.Kind, "|")
		switch kind {
		case "u":
			live = giveBack(live, shortClient(client))
		case "f", "fail":
			live = append(live, failure{at: e.At, client: shortClient(client)})
		}
	}
	if len(live) > MaxFailuresPerDay {
		live = live[len(live)-MaxFailuresPerDay:]
	}
	return live, nil
}

// legacyFailureScan bounds the walk over entries of before.
const legacyFailureScan = 4 * domain.RecentAttempts

func parseFailures(list string, now time.Time) []failure {
	if list == "" {
		return nil
	}
	var out []failure
	for _, item := range strings.Split(list, ",") {
		t, c, _ := strings.Cut(item, "~")
		sec, err := strconv.ParseInt(t, 36, 64)
		if err != nil {
			continue
		}
		at := time.Unix(sec, 0).UTC()
		if now.Sub(at) >= 24*time.Hour {
			continue
		}
		out = append(out, failure{at: at, client: c})
	}
	return out
}

func formatFailures(live []failure) string {
	items := make([]string, len(live))
	for i, f := range live {
		items[i] = strconv.FormatInt(f.at.Unix(), 36) + "~" + f.client
	}
	return strings.Join(items, ",")
}

// giveBack removes client's newest failure.
func giveBack(live []failure, client string) []failure {
	for i := len(live) - 1; i >= 0; i-- {
		if live[i].client == client {
			return slices.Delete(slices.Clone(live), i, i+1)
		}
	}
	return live
}

// claimFailure takes one failure slot of address for client: the check
// counts as failed until giveBackFailure. At most FailuresPerDay live
// failures from everyone, ClientFailuresPerDay from one client.
func (s *Service) claimFailure(ctx context.Context, field, address, client string) error {
	lim := s.Limits
	_, err := s.Ledger.Append(ctx, "fail:"+address, func(tail domain.Tail, now time.Time) (string, error) {
		live, err := currentFailures(tail, now)
		if err != nil {
			return "", err
		}
		c := shortClient(client)
		var mine []failure
		for _, f := range live {
			if f.client == c {
				mine = append(mine, f)
			}
		}
		if cap := min(lim.FailuresPerDay, MaxFailuresPerDay); len(live) >= cap {
			return "", tooMany(contract.ReasonTooManyFailures, field, untilFree(live, cap, now), "Too many failed attempts. Please try again later.")
		}
		// An unknown client ("-": a call from inside) has no cap of its own.
		if client != "-" && len(mine) >= lim.ClientFailuresPerDay {
			return "", tooMany(contract.ReasonTooManyFailures, field, untilFree(mine, lim.ClientFailuresPerDay, now), "Too many failed attempts. Please try again later.")
		}
		return "f|" + client + "|" + formatFailures(append(live, failure{at: now, client: c})), nil
	})
	return err
}

// untilFree is how long until fewer than limit of live are a day old.
func untilFree(live []failure, limit int, now time.Time) time.Duration {
	if limit <= 0 || limit > len(live) {
		return 24 * time.Hour
	}
	return live[len(live)-limit].at.Add(24 * time.Hour).Sub(now)
}

// giveBackFailure returns a slot claimFailure took: a match, or a check
// that compared nothing.
func (s *Service) giveBackFailure(ctx context.Context, address, client string) {
	_, _ = s.Ledger.Append(ctx, "fail:"+address, func(tail domain.Tail, now time.Time) (string, error) {
		live, err := currentFailures(tail, now)
		if err != nil {
			return "", err
		}
		return "u|" + client + "|" + formatFailures(giveBack(live, shortClient(client))), nil
	})
}
