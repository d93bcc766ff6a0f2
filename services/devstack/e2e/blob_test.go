package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/blob"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded/testkit"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/natsx"
)

// pkg/blob against the real in-process S3 (its tests live here, with the
// test kit, so the pkg module carries no test-only servers).
func TestBlobStore(t *testing.T) {
	ks := testkit.Start(t)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	cfg := blob.Config{Endpoint: ks.S3.Endpoint, AccessKey: testkit.S3AccessKey, SecretKey: testkit.S3SecretKey,
		Region: "us-east-1", Bucket: "blob-" + hex.EncodeToString(suffix)}
	// Links are signed for the host phones reach, not the one services use.
	u, _ := url.Parse(ks.S3.Endpoint)
	_, port, _ := net.SplitHostPort(u.Host)
	cfg.PublicEndpoint = "http://localhost:" + port
	s, err := blob.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := []byte("private bytes")
	if err := s.Put(ctx, "a/b.txt", data, "text/plain"); err != nil { // makes the bucket
		t.Fatal(err)
	}

	t.Run("get, stat and the size bound", func(t *testing.T) {
		got, err := s.Get(ctx, "a/b.txt", 100)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get: %q %v", got, err)
		}
		if _, err := s.Get(ctx, "a/b.txt", 4); contract.ErrorCode(err) != contract.TooLarge {
			t.Fatalf("bounded get: %v", err)
		}
		if info, err := s.Stat(ctx, "a/b.txt"); err != nil || info.Size != int64(len(data)) || info.ContentType != "text/plain" {
			t.Fatalf("stat: %+v %v", info, err)
		}
		if _, err := s.Stat(ctx, "a/none"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("stat missing: %v", err)
		}
		if _, err := s.Get(ctx, "a/none", 10); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
	})

	t.Run("a presigned GET works without credentials on the public host", func(t *testing.T) {
		link, err := s.GetURL(ctx, "a/b.txt", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, cfg.PublicEndpoint+"/") {
			t.Fatalf("link %s not on %s", link, cfg.PublicEndpoint)
		}
		body, _, status := fetch(t, link)
		if status != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("GET: %d %q", status, body)
		}
		tampered := strings.Replace(link, "a/b.txt", "a/c.txt", 1)
		if _, _, status := fetch(t, tampered); status != http.StatusForbidden {
			t.Fatalf("link for another key: %d", status)
		}
		q, _ := url.Parse(link)
		v := q.Query()
		sig := []byte(v.Get("X-Amz-Signature"))
		sig[0] ^= 1
		v.Set("X-Amz-Signature", string(sig))
		q.RawQuery = v.Encode()
		if _, _, status := fetch(t, q.String()); status != http.StatusForbidden {
			t.Fatalf("tampered signature: %d", status)
		}
	})

	t.Run("an expired link is refused", func(t *testing.T) {
		link, err := s.GetURL(ctx, "a/b.txt", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the link to expire", func() bool {
			_, _, status := fetch(t, link)
			return status == http.StatusForbidden
		})
	})

	t.Run("a presigned PUT stores without credentials", func(t *testing.T) {
		link, err := s.PutURL(ctx, "in/x", time.Minute, int64(len("from the phone")))
		if err != nil {
			t.Fatal(err)
		}
		put(t, link, []byte("from the phone"))
		if info, err := s.Stat(ctx, "in/x"); err != nil || info.Size != int64(len("from the phone")) {
			t.Fatalf("stat: %+v %v", info, err)
		}
	})

	// A presigned PUT bounded nothing: a link for a 10 MB document took
	// whatever the store's largest object is. Its length is signed now.
	t.Run("a presigned PUT takes only the length it was signed for", func(t *testing.T) {
		link, err := s.PutURL(ctx, "in/y", time.Minute, 16)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{17, 1 << 20, 15} {
			req, _ := http.NewRequest(http.MethodPut, link, bytes.NewReader(make([]byte, n)))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode < 400 {
				t.Fatalf("a PUT of %d bytes on a link for 16: %d", n, res.StatusCode)
			}
		}
		if _, err := s.Stat(ctx, "in/y"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("after the refused PUTs: %v", err)
		}
		put(t, link, make([]byte, 16))
	})

	t.Run("delete, and deleting a missing object is success", func(t *testing.T) {
		for range 2 {
			if err := s.Delete(ctx, "a/b.txt"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Stat(ctx, "a/b.txt"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})

	t.Run("delete the objects under a prefix older than a cutoff", func(t *testing.T) {
		before := time.Now().Add(-time.Minute) // LastModified may be truncated to the second
		for _, k := range []string{"old/1", "old/deep/2", "older/3", "keep/4"} {
			if err := s.Put(ctx, k, data, "text/plain"); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.DeleteOlder(ctx, "old/", before); err != nil || n != 0 {
			t.Fatalf("cutoff before the uploads: %d deleted, %v", n, err)
		}
		if n, err := s.DeleteOlder(ctx, "", time.Now().Add(time.Hour)); err == nil || n != 0 {
			t.Fatalf("an empty prefix (the whole bucket): %d deleted, %v", n, err)
		}
		for _, k := range []string{"old/1", "old/deep/2", "older/3", "keep/4"} {
			if _, err := s.Stat(ctx, k); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
		}
		if n, err := s.DeleteOlder(ctx, "old/", time.Now().Add(time.Second)); err != nil || n != 2 {
			t.Fatalf("cutoff after the uploads: %d deleted, %v", n, err)
		}
		for k, wantGone := range map[string]bool{"old/1": true, "old/deep/2": true, "older/3": false, "keep/4": false} {
			if _, err := s.Stat(ctx, k); errors.Is(err, blob.ErrNotFound) != wantGone {
				t.Errorf("%s: stat %v, want gone %v", k, err, wantGone)
			}
		}
		if n, err := s.DeleteOlder(ctx, "old/", time.Now().Add(time.Second)); err != nil || n != 0 {
			t.Fatalf("a second sweep: %d deleted, %v", n, err)
		}
		none := cfg
		none.Bucket += "-never-made"
		ns, err := blob.New(none)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := ns.DeleteOlder(ctx, "old/", time.Now()); err != nil || n != 0 {
			t.Fatalf("no bucket yet: %d deleted, %v", n, err)
		}
	})

	t.Run("an unreachable store is Unavailable within the timeout", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		// Accepts connections and never answers: the worst case.
		var conns []net.Conn
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c)
			}
		}()
		t.Cleanup(func() {
			_ = ln.Close()
			<-done
			for _, c := range conns {
				_ = c.Close()
			}
		})
		dead := cfg
		dead.Endpoint, dead.PublicEndpoint, dead.Timeout = "http://"+ln.Addr().String(), "", 300*time.Millisecond
		ds, err := blob.New(dead)
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		err = ds.Put(ctx, "k", data, "text/plain")
		var ce *contract.Error
		if !errors.As(err, &ce) || ce.Code != contract.Unavailable || ce.RetryAfter == 0 {
			t.Fatalf("put: %v", err)
		}
		if _, err := ds.Stat(ctx, "k"); contract.ErrorCode(err) != contract.Unavailable {
			t.Fatalf("stat: %v", err)
		}
		if _, err := ds.DeleteOlder(ctx, "k/", time.Now()); contract.ErrorCode(err) != contract.Unavailable {
			t.Fatalf("delete older: %v", err)
		}
		if took := time.Since(began); took > 3*time.Second {
			t.Fatalf("took %s", took)
		}
	})
}

// An orphaned object whose deletion fails is retried until it goes; one
// already gone counts as deleted.
func TestOrphanDeletionIsRetried(t *testing.T) {
	n := testkit.StartNATS(t)
	nc, jsc, err := natsx.Connect(n.URL, "orphans-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx := context.Background()
	if err := events.EnsureStreams(ctx, jsc, 1); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	tries := map[string]int{}
	del := func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		tries[key]++
		if tries[key] < 3 {
			return &contract.Error{Code: contract.Unavailable, Message: "S3 is down"}
		}
		return nil
	}
	c, err := events.Consume(ctx, jsc, zap.NewNop(), events.ConsumerConfig{
		Durable: contract.DurableDocumentsObjects,
		Backoff: []time.Duration{10 * time.Millisecond}, Handler: blob.DeleteOrphans(del),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ev, err := events.New(ctx, contract.EventDocumentObjectOrphaned, contract.ObjectOrphaned{Key: "documents/1/x.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	if err := events.NewPublisher(jsc).Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deletion to succeed on its third try", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return tries["documents/1/x.jpg"] == 3
	})
}
