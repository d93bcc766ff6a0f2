// Package adapters holds the profile service's connections to the outside:
// the S3 store of photos and document images.
package adapters

import (
	"context"
	"time"

	"github.com/dossapp/backend/pkg/blob"
	"github.com/dossapp/backend/pkg/imagex"
)

// Images is the private bucket seen with one link lifetime: photos get an
// hour, document images at most 15 minutes.
type Images struct {
	Store *blob.Store
	TTL   time.Duration
}

// Put stores a normalised JPEG under key.
func (i Images) Put(ctx context.Context, key string, jpeg []byte) error {
	return i.Store.Put(ctx, key, jpeg, imagex.ContentType)
}

// Delete removes key; a missing key is not an error.
func (i Images) Delete(ctx context.Context, key string) error { return i.Store.Delete(ctx, key) }

// URL presigns a GET of key for the link lifetime.
func (i Images) URL(ctx context.Context, key string) (string, error) {
	return i.Store.GetURL(ctx, key, i.TTL)
}
