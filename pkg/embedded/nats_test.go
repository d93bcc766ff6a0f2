package embedded_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/embedded"
)

func startNATS(t *testing.T) *embedded.NATS {
	t.Helper()
	n, err := embedded.StartNATS(t.TempDir(), -1)
	if err != nil {
		t.Fatalf("StartNATS: %v", err)
	}
	t.Cleanup(n.Shutdown)
	return n
}

// connect is a plain client connection, closed when the test ends.
func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func connectJetStream(t *testing.T, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := connect(t, url, opts...)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// readOne reads the stream's first message through a consumer, the way a
// service would, rather than through the direct-get API.
func readOne(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string) jetstream.Msg {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return msg
}

func TestNATSJetStreamPublishAndRead(t *testing.T) {
	n := startNATS(t)
	ctx := t.Context()
	_, js := connectJetStream(t, n.URL)

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := js.Publish(ctx, "events.profile.updated", []byte(`{"id":"1"}`), jetstream.WithMsgID("1"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != "EVENTS" || ack.Sequence != 1 {
		t.Fatalf("ack = %+v, want stream EVENTS sequence 1", ack)
	}

	msg := readOne(ctx, t, js, "EVENTS")
	if got := string(msg.Data()); got != `{"id":"1"}` {
		t.Errorf("data = %q", got)
	}
	if got := msg.Subject(); got != "events.profile.updated" {
		t.Errorf("subject = %q", got)
	}
}

func TestNATSRestartKeepsURLAndStreams(t *testing.T) {
	n := startNATS(t)
	ctx := t.Context()
	url := n.URL
	reconnected := make(chan struct{}, 1)
	nc, js := connectJetStream(t, n.URL,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(10*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}),
	)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "JOBS", Subjects: []string{"jobs.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "jobs.mail", []byte("before restart")); err != nil {
		t.Fatalf("publish: %v", err)
	}

	if err := n.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if n.URL != url {
		t.Fatalf("URL changed across restart: %s -> %s", url, n.URL)
	}
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatalf("client did not reconnect; status %v", nc.Status())
	}

	info, err := js.Stream(ctx, "JOBS")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if got := info.CachedInfo().State.Msgs; got != 1 {
		t.Fatalf("messages after restart = %d, want 1", got)
	}
	if got := string(readOne(ctx, t, js, "JOBS").Data()); got != "before restart" {
		t.Errorf("data after restart = %q", got)
	}
	if _, err := js.Publish(ctx, "jobs.mail", []byte("after restart")); err != nil {
		t.Fatalf("publish after restart: %v", err)
	}
}

// TestNATSRestartUnderLoad restarts the server while a publisher runs: every
// publish the server acknowledged must still be in the stream afterwards.
func TestNATSRestartUnderLoad(t *testing.T) {
	const perPhase = 50
	n := startNATS(t)
	ctx := t.Context()
	_, js := connectJetStream(t, n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOAD", Subjects: []string{"load.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}

	acked := make(chan int)
	stop := make(chan struct{})
	publisherDone := make(chan struct{})
	go func() {
		defer close(publisherDone)
		defer close(acked)
		for i := 1; ; i++ {
			// Retry one message until acknowledged; its Nats-Msg-Id makes a
			// retry after a lost ack a duplicate rather than a second copy.
			for {
				select {
				case <-stop:
					return
				default:
				}
				pubCtx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
				_, err := js.Publish(pubCtx, "load.msg", []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint(i)))
				cancel()
				if err == nil {
					break
				}
			}
			select {
			case acked <- i:
			case <-stop:
				return
			}
		}
	}()
	waitAcked := func(want int) {
		t.Helper()
		for i := range acked {
			if i >= want {
				return
			}
		}
		t.Fatalf("publisher stopped before %d acks", want)
	}

	waitAcked(perPhase)
	if err := n.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitAcked(2 * perPhase)
	close(stop)
	<-publisherDone

	info, err := js.Stream(ctx, "LOAD")
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	// The publisher may have had one more message stored whose ack it never
	// passed on.
	if got := info.CachedInfo().State.Msgs; got < 2*perPhase || got > 2*perPhase+1 {
		t.Fatalf("stream holds %d messages, want %d acknowledged ones", got, 2*perPhase)
	}
}
