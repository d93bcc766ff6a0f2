package embedded_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// A replica that answers $SRV.PING but has not subscribed its endpoints
// yet must not count as ready: a request sent then finds no responders.
func TestRegisteredWaitsForTheLastEndpoint(t *testing.T) {
	n := startNATS(t)
	nc := connect(t, n.URL)
	const name = "probe"
	ms, err := natsx.NewService(nc, zap.NewNop(), natsx.ServiceConfig{Name: name, Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ms.Stop() }()
	if _, err := nc.Request("$SRV.PING."+name, nil, time.Second); err != nil {
		t.Fatalf("a new service answers PING at once: %v", err)
	}
	if got := natsx.Registered(nc, name, 100*time.Millisecond); got != 0 {
		t.Fatalf("Registered = %d before any endpoint, want 0", got)
	}
	echo := func(_ context.Context, s string) (string, error) { return s, nil }
	if err := natsx.Handle(ms, name+".v1.echo", echo); err != nil {
		t.Fatal(err)
	}
	if got := natsx.Registered(nc, name, 100*time.Millisecond); got != 0 {
		t.Fatalf("Registered = %d without the health command, want 0", got)
	}
	if err := natsx.AddHealth(ms, name, nil); err != nil {
		t.Fatal(err)
	}
	if got := natsx.Registered(nc, name, 100*time.Millisecond); got != 1 {
		t.Fatalf("Registered = %d with every endpoint, want 1", got)
	}
	got, err := natsx.Call[string, string](context.Background(), nc, name+".v1.echo", "hi")
	if err != nil || got != "hi" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	if _, err := natsx.Call[struct{}, contract.HealthReply](context.Background(), nc, contract.HealthSubject(name), struct{}{}); err != nil {
		t.Fatalf("health: %v", err)
	}
}
