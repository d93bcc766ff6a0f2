package app

import (
	"context"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// IPLimit caps one kind of public request per client address over a
// window. The address is the one the gateway saw (the peer, or a trusted
// proxy's X-Forwarded-For), and the count lives in the shared store, so
// every gateway and auth replica enforces the same budget.
type IPLimit struct {
	Max    int
	Window time.Duration
}

func (s *Service) limitIP(ctx context.Context, action string, lim IPLimit) error {
	hit, ok := s.ipHit(ctx, action, lim)
	if !ok {
		return nil
	}
	_, err := s.Ledger.Append(ctx, hit.Key, hit.Decide)
	return err
}

// ipHit is the entry a request of action adds to its client address's
// count, for an append that also counts the request elsewhere; ok is
// false when the request is not counted.
func (s *Service) ipHit(ctx context.Context, action string, lim IPLimit) (hit domain.Appending, ok bool) {
	ip := natsx.CallerFrom(ctx).IP
	if ip == "" || lim.Max <= 0 {
		return domain.Appending{}, false
	}
	return domain.Appending{Key: "ip:" + action + ":" + ip, Decide: func(tail domain.Tail, now time.Time) (string, error) {
		// The Max-th newest hit decides: inside the window, Max hits are.
		oldest, ok, err := tail.At(lim.Max - 1)
		if err != nil {
			return "", err
		}
		if ok {
			if wait := oldest.At.Add(lim.Window).Sub(now); wait > 0 {
				return "", tooMany(contract.ReasonRateLimited, "ip", wait, "Too many requests from your network. Please try again later.")
			}
		}
		return "hit", nil
	}}, true
}

// ipRefused refuses a hit at once when the count this process last saw
// is full already, before any work; the hit's append decides for sure.
func (s *Service) ipRefused(ctx context.Context, hit domain.Appending) error {
	tail, err := s.Ledger.Recalled(ctx, hit.Key)
	if err != nil {
		return err
	}
	_, err = hit.Decide(tail, s.now())
	return err
}
