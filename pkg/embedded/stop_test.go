package embedded_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/natsx"
)

// A replica that stops while requests flow must hand over every request
// the server already routed to it before Stop returns: its owner closes
// the stores right after, and a request handled then fails although
// another replica was there to take it.
func TestStopHandsOverEveryRoutedRequest(t *testing.T) {
	n := startNATS(t)
	const name, subject = "stopper", "stopper.v1.work"
	replica := func() (*natsx.Service, *atomic.Bool, *atomic.Int64) {
		nc, err := nats.Connect(n.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		// One at a time, so requests queue in the client.
		ms, err := natsx.NewService(nc, zap.NewNop(), natsx.ServiceConfig{Name: name, Version: "0.0.1", Concurrency: 1})
		if err != nil {
			t.Fatal(err)
		}
		storesClosed, handled := &atomic.Bool{}, &atomic.Int64{}
		work := func(_ context.Context, in string) (string, error) {
			if storesClosed.Load() {
				return "", errors.New("handled after Stop returned: the stores are closed")
			}
			handled.Add(1)
			sum := sha256.Sum256([]byte(in))
			for range 200 {
				sum = sha256.Sum256(sum[:])
			}
			return in, nil
		}
		if err := natsx.Handle(ms, subject, work); err != nil {
			t.Fatal(err)
		}
		return ms, storesClosed, handled
	}
	first, firstClosed, firstHandled := replica()
	second, _, _ := replica()
	t.Cleanup(func() { _ = second.Stop() })

	client, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var answered atomic.Int64
	var failures []error
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := natsx.Call[string, string](ctx, client, subject, "x")
				cancel()
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
				answered.Add(1)
			}
		}()
	}
	for answered.Load() < 300 {
		runtime.Gosched()
	}
	if firstHandled.Load() == 0 {
		t.Fatal("the replica to stop took no requests: the test would prove nothing")
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	firstClosed.Store(true) // as a service closes its stores after Stop
	for at := answered.Load(); answered.Load() < at+300; {
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed while one of two replicas stopped; first: %v", len(failures), answered.Load(), failures[0])
	}
}

// A handler still running when Stop is called gets its answer out: Stop
// waits for it before closing the connection the answer goes on.
func TestStopLetsARunningHandlerAnswer(t *testing.T) {
	n := startNATS(t)
	const subject = "slowpoke.v1.work"
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ms, err := natsx.NewService(nc, zap.NewNop(), natsx.ServiceConfig{Name: "slowpoke", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	if err := natsx.Handle(ms, subject, func(_ context.Context, in string) (string, error) {
		close(started)
		<-release
		return "done:" + in, nil
	}); err != nil {
		t.Fatal(err)
	}
	client, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	type answer struct {
		out string
		err error
	}
	got := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := natsx.Call[string, string](ctx, client, subject, "x")
		got <- answer{out, err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- ms.Stop() }()
	// The handler is released only once the server no longer routes
	// anything to the stopping replica: its subscriptions are gone (or, as
	// before, its whole connection).
	for subscribed(t, n, "slowpoke requests") {
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned (%v) while a handler was still running", err)
		case a := <-got:
			t.Fatalf("answered before the handler finished: %+v", a)
		default:
			runtime.Gosched()
		}
	}
	// Before, the connection closed here, under the running handler. It
	// must stay for as long as the handler runs: watched for a while (a
	// bound on something that must not happen, not a wait for readiness).
	for until := time.Now().Add(300 * time.Millisecond); time.Now().Before(until); runtime.Gosched() {
		if !connected(t, n, "slowpoke requests") {
			t.Fatal("the replica's connection closed while a handler was still running: its answer is lost")
		}
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if a := <-got; a.err != nil || a.out != "done:x" {
		t.Fatalf("the running handler's answer was lost in Stop: %q %v", a.out, a.err)
	}
}

// subscribed tells whether the server holds a connection of that name
// with subscriptions on it.
func subscribed(t *testing.T, n *embedded.NATS, name string) bool {
	t.Helper()
	cz, err := n.Server.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == name && c.NumSubs > 0 {
			return true
		}
	}
	return false
}

func connected(t *testing.T, n *embedded.NATS, name string) bool {
	t.Helper()
	cz, err := n.Server.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == name {
			return true
		}
	}
	return false
}
