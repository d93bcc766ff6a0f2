package gateway

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// multipartSlack is room for the multipart framing and small fields
// around the photo.
const multipartSlack = 64 << 10

// uploadsBucket is the JetStream object store a photo travels through: it
// is larger than one NATS message, so the command carries only its name.
// The profile service reads and deletes it; the TTL sweeps what a crash
// leaves behind.
const uploadsBucket = "profile_uploads"

// updateImage answers POST /v2/update_image (multipart field "image") with
// the updated profile. Nothing beyond the limit is ever buffered.
func (g *Gateway) updateImage(c echo.Context) error {
	data, err := readImage(c, g.imageMaxBytes)
	if err != nil {
		return err
	}
	ctx := g.callCtx(c)
	js, err := jetstream.New(g.nc)
	if err != nil {
		return uploadsUnavailable(err)
	}
	store, err := uploads(ctx, js)
	if err != nil {
		return uploadsUnavailable(err)
	}
	name := uuid.NewString()
	if _, err := store.PutBytes(ctx, name, data); err != nil {
		return uploadsUnavailable(err)
	}
	reply, err := natsx.CallRaw(ctx, g.nc, contract.ProfileUpdateImage, []byte(name))
	if err != nil {
		// The service may never have seen it; it would have deleted it.
		_ = store.Delete(context.WithoutCancel(ctx), name)
		return err
	}
	return c.JSONBlob(http.StatusOK, reply)
}

func uploads(ctx context.Context, js jetstream.JetStream) (jetstream.ObjectStore, error) {
	store, err := js.ObjectStore(ctx, uploadsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		store, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: uploadsBucket, TTL: time.Hour,
			Description: "profile photo uploads in flight from the gateway"})
		if errors.Is(err, jetstream.ErrBucketExists) {
			store, err = js.ObjectStore(ctx, uploadsBucket)
		}
	}
	return store, err
}

func uploadsUnavailable(err error) error {
	return &contract.Error{Code: contract.Unavailable, Message: "Uploads are unavailable. Please try again.", RetryAfter: 1, Op: "profile uploads", Err: err}
}

// readImage streams the multipart body to the "image" part and returns at
// most max bytes of it; a larger part is a 413 as soon as it is seen.
func readImage(c echo.Context, max int64) ([]byte, error) {
	req := c.Request()
	mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEMultipartForm || params["boundary"] == "" {
		return nil, &contract.Error{Code: contract.UnsupportedMedia, Message: "Send the image as multipart/form-data."}
	}
	body := http.MaxBytesReader(c.Response(), req.Body, max+multipartSlack)
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, contract.FieldError("image", "The image field is required.")
		}
		if err != nil {
			return nil, readError(err)
		}
		if part.FormName() != "image" {
			continue // NextPart discards it, within the body limit
		}
		data, err := io.ReadAll(io.LimitReader(part, max+1))
		if err != nil {
			return nil, readError(err)
		}
		if int64(len(data)) > max {
			return nil, tooLarge()
		}
		if len(data) == 0 {
			return nil, contract.FieldError("image", "The image field is required.")
		}
		return data, nil
	}
}

func tooLarge() error {
	return &contract.Error{Code: contract.TooLarge, Message: "The image is too large."}
}

func readError(err error) error {
	var mbe *http.MaxBytesError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case errors.As(err, &he):
		return he
	}
	return badRequest{"The request body could not be read."}
}

// imageRoute is the photo upload's full path: the JSON body limit skips it.
const imageRoute = "/api/v2/update_image"
