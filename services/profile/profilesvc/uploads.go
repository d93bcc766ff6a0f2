package profilesvc

import (
	"context"
	"errors"
	"io"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
)

// UploadsBucket is the JetStream object store the gateway puts an upload
// in: a photo is larger than one NATS message, so the command carries only
// the object's name.
const UploadsBucket = "profile_uploads"

// maxUpload bounds what is read from the store whatever the gateway let
// through.
const maxUpload = 32 << 20

// takeUpload reads the named upload and deletes it.
func takeUpload(ctx context.Context, js jetstream.JetStream, name string) ([]byte, error) {
	if name == "" {
		return nil, contract.FieldError("image", "The image field is required.")
	}
	store, err := js.ObjectStore(ctx, UploadsBucket)
	if err != nil {
		return nil, &contract.Error{Code: contract.Unavailable, Message: "Uploads are unavailable. Please try again.", RetryAfter: 1, Op: "upload store", Err: err}
	}
	defer func() { _ = store.Delete(context.WithoutCancel(ctx), name) }()
	obj, err := store.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, contract.FieldError("image", "The image upload was not found.")
	}
	if err != nil {
		return nil, &contract.Error{Code: contract.Unavailable, Message: "Uploads are unavailable. Please try again.", RetryAfter: 1, Op: "upload get", Err: err}
	}
	defer func() { _ = obj.Close() }()
	data, err := io.ReadAll(io.LimitReader(obj, maxUpload+1))
	if err != nil {
		return nil, &contract.Error{Code: contract.Unavailable, Message: "Uploads are unavailable. Please try again.", RetryAfter: 1, Op: "upload read", Err: err}
	}
	if len(data) > maxUpload {
		return nil, &contract.Error{Code: contract.TooLarge, Message: "The image is too large."}
	}
	return data, nil
}
