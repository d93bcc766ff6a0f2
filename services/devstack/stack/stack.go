// Package stack runs every DOSS service in one process against given
// NATS, MongoDB and S3 addresses: what `make run` and the end-to-end tests
// share. In production each service runs as its own binary instead.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/auth/authsvc"
	"github.com/dossapp/backend/services/documents/documentsvc"
	"github.com/dossapp/backend/services/gateway/gateway"
	"github.com/dossapp/backend/services/notifier/notifier"
	"github.com/dossapp/backend/services/profile/profilesvc"
)

// RunFunc is a service's run.
type RunFunc func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// Services are the back-end services by name (the gateway is separate).
var Services = map[string]RunFunc{
	contract.ServiceAuth:      authsvc.Run,
	contract.ServiceNotifier:  notifier.Run,
	contract.ServiceProfile:   profilesvc.Run,
	contract.ServiceDocuments: documentsvc.Run,
}

// Env is a getenv over a fixed map, falling back to parent.
func Env(vars map[string]string, parent func(string) string) func(string) string {
	return func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if parent != nil {
			return parent(k)
		}
		return ""
	}
}

// AsBusUser is getenv as the bus user name sees it: its own seed
// (embedded.SeedVar, from embedded.NATS.ServiceEnv) as DOSS_NATS_SEED, and
// no signing key unless its calls vouch for a user, as in production.
func AsBusUser(name string, getenv func(string) string) func(string) string {
	return func(k string) string {
		switch k {
		case "DOSS_NATS_SEED":
			if v := getenv(embedded.SeedVar(name)); v != "" {
				return v
			}
		case "DOSS_BUS_SIGNING_KEY":
			if u, ok := contract.BusUserFor(name); ok && len(u.Calls) == 0 {
				return "" // it calls no one (the notifier, auth)
			}
		}
		return getenv(k)
	}
}

// Proc is one running service.
type Proc struct {
	Name   string
	cancel context.CancelFunc
	done   chan error
}

// Stop ends the service and waits for it.
func (p *Proc) Stop() error {
	p.cancel()
	err := <-p.done
	p.done <- err
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Start runs the named service until Stop, and waits until it serves all
// of its endpoints on nc.
func Start(nc *nats.Conn, name string, getenv func(string) string, out io.Writer) (*Proc, error) {
	run, ok := Services[name]
	if !ok {
		return nil, fmt.Errorf("unknown service %q", name)
	}
	before := Replicas(nc, name)
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proc{Name: name, cancel: cancel, done: make(chan error, 1)}
	getenv = AsBusUser(name, getenv)
	go func() { p.done <- run(ctx, getenv, out) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if Replicas(nc, name) > before {
			return p, nil
		}
		select {
		case err := <-p.done:
			cancel()
			p.done <- err
			return nil, fmt.Errorf("%s exited: %w", name, err)
		default:
		}
		if time.Now().After(deadline) {
			_ = p.Stop()
			return nil, fmt.Errorf("%s did not become ready", name)
		}
	}
}

// Replicas counts the instances of a service that serve all of their
// endpoints.
func Replicas(nc *nats.Conn, name string) int {
	return natsx.Registered(nc, name, 100*time.Millisecond)
}

// StartGateway runs a gateway and returns it with its address once it
// listens.
func StartGateway(getenv func(string) string, out io.Writer) (*Proc, string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proc{Name: "gateway", cancel: cancel, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	getenv = AsBusUser(contract.BusGateway, getenv)
	go func() { p.done <- gateway.RunWith(ctx, getenv, out, func(a string) { addrc <- a }) }()
	select {
	case a := <-addrc:
		return p, a, nil
	case err := <-p.done:
		cancel()
		p.done <- err
		return nil, "", fmt.Errorf("gateway exited: %w", err)
	}
}

// All is every service plus a gateway.
type All struct {
	Procs []*Proc
	Addr  string
}

// StartAll starts auth, the notifier, profile, documents and a gateway.
func StartAll(nc *nats.Conn, getenv func(string) string, out io.Writer) (*All, error) {
	a := &All{}
	for _, name := range []string{contract.ServiceAuth, contract.ServiceNotifier, contract.ServiceProfile, contract.ServiceDocuments} {
		p, err := Start(nc, name, getenv, out)
		if err != nil {
			a.Stop()
			return nil, err
		}
		a.Procs = append(a.Procs, p)
	}
	gw, addr, err := StartGateway(getenv, out)
	if err != nil {
		a.Stop()
		return nil, err
	}
	a.Procs, a.Addr = append(a.Procs, gw), addr
	return a, nil
}

// Stop stops everything in reverse order of starting.
func (a *All) Stop() {
	var wg sync.WaitGroup
	for i := len(a.Procs) - 1; i >= 0; i-- {
		wg.Add(1)
		func(p *Proc) { defer wg.Done(); _ = p.Stop() }(a.Procs[i])
	}
	wg.Wait()
}
