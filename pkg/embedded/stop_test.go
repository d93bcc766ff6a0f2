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

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

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
