package natsx

import (
	"context"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

// Check is one dependency a replica needs to do its work (its store).
type Check func(ctx context.Context) error

// AddHealth registers "<service>.v1.health": it answers with the state of
// each check, and Unavailable when one fails, so the gateway's /readyz
// tells a running replica from a useful one.
func AddHealth(s *Service, service string, checks map[string]Check) error {
	return Handle(s, contract.HealthSubject(service), func(ctx context.Context, _ struct{}) (contract.HealthReply, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		reply := contract.HealthReply{Checks: map[string]string{}}
		var failed error
		for name, check := range checks {
			if err := check(ctx); err != nil {
				reply.Checks[name] = "unavailable"
				failed = &contract.Error{Code: contract.Unavailable, Message: service + ": " + name + " is unavailable.", RetryAfter: 1, Op: "health " + name, Err: err}
				continue
			}
			reply.Checks[name] = "ok"
		}
		if failed != nil {
			return reply, failed
		}
		return reply, nil
	})
}
