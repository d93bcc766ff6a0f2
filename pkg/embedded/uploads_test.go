package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/uploads"
)

// An upload bucket is read from its stream's leader, never by a direct
// get any replica may answer (one catching up answers "not found" for a
// put its leader acknowledged): Store makes a bucket with direct gets off
// and refuses one made before with the object store's default, and a take
// then asks the leader's API only.
func TestUploadsAreReadFromTheStreamLeader(t *testing.T) {
	n := startNATS(t)
	nc, js := connectJetStream(t, n.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	const earlier = "uploads_made_before"
	if _, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: earlier}); err != nil {
		t.Fatal(err)
	}
	if _, err := uploads.Store(ctx, js, "uploads_fresh", 1); err != nil {
		t.Fatalf("Store: %v", err)
	}
	stream, err := js.Stream(ctx, "OBJ_uploads_fresh")
	if err != nil {
		t.Fatal(err)
	}
	if stream.CachedInfo().Config.AllowDirect {
		t.Error("direct gets on; a follower may answer a take")
	}
	// A bucket an older release made with them on is refused, not
	// updated (no service may update a stream): turning them off is the
	// runbook's operator step.
	if _, err := uploads.Store(ctx, js, earlier, 1); err == nil || !strings.Contains(err.Error(), "direct gets") {
		t.Fatalf("Store of a bucket with direct gets on: %v", err)
	}

	var direct, leader atomic.Int32
	count := func(subject string, n *atomic.Int32) {
		sub, err := nc.Subscribe(subject, func(*nats.Msg) { n.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	count("$JS.API.DIRECT.GET.>", &direct)
	count("$JS.API.STREAM.MSG.GET.>", &leader)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	file := bytes.Repeat([]byte("doss"), 40_000) // several chunks
	up, err := uploads.Put(ctx, js, "uploads_fresh", bytes.NewReader(file))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := uploads.Take(ctx, js, "uploads_fresh", up.Name, "file", int64(len(file)))
	if err != nil || !bytes.Equal(got, file) {
		t.Fatalf("Take = %d bytes, %v; want the %d bytes put", len(got), err, len(file))
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if direct.Load() != 0 || leader.Load() == 0 {
		t.Errorf("the take asked %d direct gets and %d leader gets; want only the leader's", direct.Load(), leader.Load())
	}
}

// A take of an upload that is not there (taken already, or lost by the
// cluster) is the system's failure, never the request's: the gateway
// wrote the file a moment before naming it, so the answer is a 503 the
// app retries, not a 422 saying the file is invalid. An empty name is
// the request's: the field is required.
func TestAMissingUploadIsUnavailableNotInvalid(t *testing.T) {
	n := startNATS(t)
	_, js := connectJetStream(t, n.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := uploads.Store(ctx, js, "uploads_missing", 1); err != nil {
		t.Fatal(err)
	}
	up, err := uploads.Put(ctx, js, "uploads_missing", bytes.NewReader([]byte("once")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uploads.Take(ctx, js, "uploads_missing", up.Name, "file", 1<<10); err != nil {
		t.Fatalf("first take: %v", err)
	}

	_, err = uploads.Take(ctx, js, "uploads_missing", up.Name, "file", 1<<10)
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Code != contract.Unavailable || ce.RetryAfter == 0 {
		t.Fatalf("second take of %s = %v; want unavailable with a Retry-After", up.Name, err)
	}

	_, err = uploads.Take(ctx, js, "uploads_missing", "", "file", 1<<10)
	if !errors.As(err, &ce) || ce.Code != contract.Invalid {
		t.Fatalf("take without a name = %v; want the field required", err)
	}
}
