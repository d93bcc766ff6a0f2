// Package uploads carries a file from the gateway to the service that
// takes it: a file is larger than one NATS message, so the gateway puts it
// in a JetStream object store and the command carries only its name. The
// service reads and deletes it; the bucket's TTL sweeps what a crash
// leaves behind.
package uploads

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
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
	store, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		store, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket, TTL: time.Hour, Replicas: max(1, replicas),
			Description: "uploads in flight from the gateway"})
		if errors.Is(err, jetstream.ErrBucketExists) {
			store, err = js.ObjectStore(ctx, bucket)
		}
	}
	if err != nil {
		return nil, Unavailable(err)
	}
	return store, nil
}

// Unavailable is the answer when the object store fails.
func Unavailable(err error) error {
	return &contract.Error{Code: contract.Unavailable, Message: "Uploads are unavailable. Please try again.", RetryAfter: 1, Op: "uploads", Err: err}
}

// Take reads the named upload (at most max bytes, else TooLarge) and
// deletes it; field names the request field when it is missing.
func Take(ctx context.Context, js jetstream.JetStream, bucket, name, field string, max int64) ([]byte, error) {
	if name == "" {
		return nil, contract.FieldError(field, "The "+field+" field is required.")
	}
	store, err := js.ObjectStore(ctx, bucket)
	if err != nil {
		return nil, Unavailable(err)
	}
	defer func() { _ = store.Delete(context.WithoutCancel(ctx), name) }()
	obj, err := store.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, contract.FieldError(field, "The upload was not found.")
	}
	if err != nil {
		return nil, Unavailable(err)
	}
	defer func() { _ = obj.Close() }()
	data, err := io.ReadAll(io.LimitReader(obj, max+1))
	if err != nil {
		return nil, Unavailable(err)
	}
	if int64(len(data)) > max {
		return nil, &contract.Error{Code: contract.TooLarge, Message: "The file is too large."}
	}
	return data, nil
}

// Send puts data in bucket under a fresh name and runs call with that
// name; when call fails the upload is deleted, since the service may never
// have seen it (one that did has deleted it already).
func Send(ctx context.Context, js jetstream.JetStream, bucket string, data []byte, call func(name string) error) error {
	store, err := js.ObjectStore(ctx, bucket)
	if err != nil {
		return Unavailable(err)
	}
	name := uuid.NewString()
	if _, err := store.PutBytes(ctx, name, data); err != nil {
		return Unavailable(err)
	}
	if err := call(name); err != nil {
		_ = store.Delete(context.WithoutCancel(ctx), name)
		return err
	}
	return nil
}
