// Package uploads carries a file from the gateway to the service that
// takes it: a file is larger than one NATS message, so the gateway puts it
// in a JetStream object store and the command carries only its name. The
// service reads and deletes it; the bucket's TTL sweeps what a crash
// leaves behind.
package uploads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// Buckets of uploads in flight.
const (
	ProfileBucket   = contract.BucketProfileUploads
	DocumentsBucket = contract.BucketDocumentsUploads
)

// Store opens bucket, creating it with replicas copies when missing: the
// service that reads a bucket creates it at start, with the cluster's
// replication, and the gateway only opens it (a bucket nobody serves yet
// is a 503 anyway).
func Store(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (jetstream.ObjectStore, error) {
	var store jetstream.ObjectStore
	var direct bool
	err := natsx.Settle(ctx, "object store "+bucket, func(ctx context.Context) (err error) {
		store, err = js.ObjectStore(ctx, bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			if _, err = js.CreateStream(ctx, objectStream(bucket, replicas)); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return err
			}
			store, err = js.ObjectStore(ctx, bucket)
		}
		if err != nil {
			return err
		}
		direct, err = directGets(ctx, js, bucket)
		return err
	})
	if err == nil && direct {
		// No retry changes a configuration, so this is told at once.
		err = fmt.Errorf("stream %s answers direct gets from any replica; turn them off (docs/runbook.md)", contract.ObjectStream(bucket))
	}
	if err != nil {
		return nil, Unavailable(err)
	}
	return store, nil
}

// objectStream is the stream of an object store as nats.go's
// CreateObjectStore makes it (chunks and metadata subjects, rollups, new
// writes refused when full), with direct gets off (see directGets). It is
// created so, never updated: no service may change a stream's
// configuration (contract.BusUser.Configures).
func objectStream(bucket string, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        contract.ObjectStream(bucket),
		Description: "uploads in flight from the gateway",
		Subjects:    []string{"$O." + bucket + ".C.>", "$O." + bucket + ".M.>"},
		MaxAge:      time.Hour,
		MaxBytes:    -1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(1, replicas),
		Discard:     jetstream.DiscardNew,
		AllowRollup: true,
		AllowDirect: false,
	}
}

// directGets says whether bucket's stream answers direct gets. nats.go
// makes an object store with them on, and a direct get is answered by any
// replica: one that is catching up after a partition answers "not found"
// for an upload its leader acknowledged to the gateway (seen on the
// compose cluster: a 422 for an update_image while a NATS node rejoined,
// after the 1.5 s grace). Without them, a lookup is answered by the
// stream's leader, which holds every acknowledged put; an upload is read
// once, so the leader's load is one lookup per upload. A bucket made with
// them on (by an older release) is refused: turning them off is an
// operator's step (docs/runbook.md).
func directGets(ctx context.Context, js jetstream.JetStream, bucket string) (bool, error) {
	stream, err := js.Stream(ctx, contract.ObjectStream(bucket))
	if err != nil {
		return false, err
	}
	return stream.CachedInfo().Config.AllowDirect, nil
}

// Unavailable is the answer when the object store fails.
func Unavailable(err error) error {
	return &contract.Error{Code: contract.Unavailable, Message: "Uploads are unavailable. Please try again.", RetryAfter: 1, Op: "uploads", Err: err}
}

// Take reads the named upload (at most max bytes, else TooLarge) and
// deletes it; field names the request field when it is missing. The
// buffer is allocated once at the object's size: growing one as the
// chunks arrive cost more than twice the file in garbage per upload.
//
// Each JetStream call has a short deadline of its own and is asked again
// while the cluster elects a leader (retry): on the compose cluster, the
// first calls after a node rejoined went unanswered for seconds, and one
// deadline for the whole read turned them into 503s.
func Take(ctx context.Context, js jetstream.JetStream, bucket, name, field string, max int64) ([]byte, error) {
	if name == "" {
		return nil, contract.FieldError(field, "The "+field+" field is required.")
	}
	store, err := open(ctx, js, bucket)
	if err != nil {
		return nil, Unavailable(err)
	}
	defer func() { _ = store.Delete(context.WithoutCancel(ctx), name) }()
	// A bucket made before Store turned direct gets off, or a handle opened
	// before, may still be answered by a follower that does not yet hold
	// the put its leader acknowledged a moment ago (seen on the compose
	// cluster with direct gets: about 1 upload in 30): a name just written
	// is asked again, for about 1.5 s, before it counts as missing.
	missingAfter := time.Now().Add(1500 * time.Millisecond)
	var data []byte
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		data, err = read(ctx, store, name, max)
		if errors.Is(err, jetstream.ErrObjectNotFound) && time.Now().Before(missingAfter) {
			return errNotYet
		}
		return err
	})
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound) || errors.Is(err, errNotYet):
		// The gateway put the file a moment ago and the command names it:
		// a miss is the cluster's fault, never the request's, so the app is
		// told to try again (503), not that its file is invalid (422).
		return nil, Unavailable(fmt.Errorf("upload %q: %w", name, jetstream.ErrObjectNotFound))
	case isTooLarge(err):
		return nil, err
	case err != nil:
		return nil, Unavailable(err)
	}
	return data, nil
}

func isTooLarge(err error) bool {
	var ce *contract.Error
	return errors.As(err, &ce) && ce.Code == contract.TooLarge
}

var errNotYet = errors.New("uploads: not on this replica yet")

// read is one attempt at the whole object.
func read(ctx context.Context, store jetstream.ObjectStore, name string, max int64) ([]byte, error) {
	obj, err := store.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = obj.Close() }()
	info, err := obj.Info()
	if err != nil {
		return nil, err
	}
	if info.Size > uint64(max) {
		return nil, tooLarge()
	}
	data := make([]byte, info.Size+1) // one more byte tells a short object from a lying one
	n, err := io.ReadFull(obj, data)
	switch {
	case err == nil:
		return nil, tooLarge()
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return data[:n], nil
	}
	return nil, err
}

// retryBudget bounds all the attempts of one operation, well inside a
// caller's deadline (natsx.DefaultTimeout); each has natsx's
// JetStreamCallTimeout.
const retryBudget = 6 * time.Second

// retry runs op with a deadline of its own each time (natsx.Settle's),
// again while its error is one a leader election causes, until the budget
// or ctx ends.
func retry(ctx context.Context, op func(context.Context) error) error {
	return natsx.SettleWithin(ctx, "uploads", retryBudget, transient, op)
}

// transient: what a JetStream call answers while its stream or the meta
// group has no leader, or before a follower caught up.
func transient(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, errNotYet) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		(errors.As(err, &api) && api.Code == 503)
}

// stores are the object stores opened so far, by JetStream handle and
// bucket: opening one is a stream lookup, not to be paid per upload.
var stores sync.Map // storeKey → jetstream.ObjectStore

type storeKey struct {
	js     jetstream.JetStream
	bucket string
}

func open(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.ObjectStore, error) {
	k := storeKey{js, bucket}
	if v, ok := stores.Load(k); ok {
		return v.(jetstream.ObjectStore), nil
	}
	var store jetstream.ObjectStore
	err := retry(ctx, func(ctx context.Context) (err error) {
		store, err = js.ObjectStore(ctx, bucket)
		return err
	})
	if err != nil {
		return nil, err
	}
	stores.Store(k, store)
	return store, nil
}

func tooLarge() error {
	return &contract.Error{Code: contract.TooLarge, Message: "The file is too large."}
}

// Upload is a file in a bucket that no service has taken yet.
type Upload struct {
	store jetstream.ObjectStore
	Name  string
	Size  int64
}

// putTimeout bounds a put whose sender stalls without going away; the
// HTTP server's read timeout comes first.
const putTimeout = 2 * time.Minute

// storeTimeout bounds the store's acknowledgement of a put whose file is
// all in: well inside a client's patience and the gateway's write timeout.
const storeTimeout = 5 * time.Second

// Put streams r into bucket under a fresh name, a chunk at a time: the
// file is never whole in this process. When r fails (the sender went
// away, or a limit reader refused more), nothing is stored and r's error
// is returned as it is.
func Put(ctx context.Context, js jetstream.JetStream, bucket string, r io.Reader) (*Upload, error) {
	store, err := open(ctx, js, bucket)
	if err != nil {
		return nil, Unavailable(err)
	}
	// Not the request's context: when the sender goes away, its reader
	// fails, the put stops, and the object store purges the chunks it
	// wrote, which it cannot do with a cancelled context. The long bound is
	// for a slow sender; once the last byte is in, the store has
	// storeTimeout to acknowledge it (a gateway on a NATS node cut off the
	// network waited out the whole bound, and its client gave up first).
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), putTimeout)
	defer cancel()
	src := &sourceReader{r: r, done: func() { time.AfterFunc(storeTimeout, cancel) }}
	name := uuid.NewString()
	info, err := store.Put(pctx, jetstream.ObjectMeta{Name: name}, src)
	if src.err != nil {
		return nil, src.err // the object store purges the chunks it had
	}
	if err != nil {
		return nil, Unavailable(err)
	}
	return &Upload{store: store, Name: name, Size: int64(info.Size)}, nil
}

// sourceReader remembers the failure of the sender's side, to tell it
// from the object store's.
type sourceReader struct {
	r    io.Reader
	err  error
	done func() // called once, at the sender's end
	once sync.Once
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	if errors.Is(err, io.EOF) && s.done != nil {
		s.once.Do(s.done)
	}
	return n, err
}

// Hand runs call with the upload's name; when call fails the upload is
// deleted, since the service may never have seen it (one that did has
// deleted it already).
func (u *Upload) Hand(ctx context.Context, call func(name string) error) error {
	if err := call(u.Name); err != nil {
		u.Discard(ctx)
		return err
	}
	return nil
}

// Discard deletes an upload no service will take, within storeTimeout:
// the request waits for it, and an object left behind when the store
// cannot answer in time (a stream leader lost, a partition) is the
// bucket's TTL's to sweep, not a reason to hang the answer.
func (u *Upload) Discard(ctx context.Context) {
	if u.store == nil {
		return // made by hand, in a test
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	_ = u.store.Delete(dctx, u.Name)
}
