package natsx

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/dossapp/backend/pkg/contract"
)

// Check is one dependency a replica needs to do its work (its store).
type Check func(ctx context.Context) error

// AddHealth registers "<service>.v1.health": it answers with the state of
// each check, and Unavailable when one fails, so the gateway's /readyz
// tells a running replica from a useful one. Register it after every
// other endpoint: Registered takes it as the sign that all are served.
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

// Registered counts the instances of service that have registered all of
// their endpoints. An instance answers $SRV.PING as soon as it exists,
// before its endpoints are subscribed; the health command is added last,
// so an instance whose $SRV.INFO lists it serves every subject (the
// server handles one connection's subscriptions in order).
func Registered(nc *nats.Conn, service string, wait time.Duration) int {
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return 0
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$SRV.INFO."+service, inbox, nil); err != nil {
		return 0
	}
	health := contract.HealthSubject(service)
	n := 0
	for {
		m, err := sub.NextMsg(wait)
		if err != nil {
			return n
		}
		var info micro.Info
		if json.Unmarshal(m.Data, &info) != nil {
			continue
		}
		for _, e := range info.Endpoints {
			if e.Subject == health {
				n++
				break
			}
		}
	}
}
