package gateway

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/uploads"
)

// multipartSlack is room for the multipart framing and small fields
// around the photo.
const multipartSlack = 64 << 10

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
		return uploads.Unavailable(err)
	}
	var reply []byte
	err = uploads.Send(ctx, js, uploads.ProfileBucket, data, func(name string) (err error) {
		reply, err = natsx.CallRaw(ctx, g.nc, contract.ProfileUpdateImage, []byte(name))
		return err
	})
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, reply)
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
