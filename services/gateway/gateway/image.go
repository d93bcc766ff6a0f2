package gateway

import (
	"context"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/uploads"
)

// updateImage answers POST /v2/update_image (multipart field "image") with
// the updated profile. The photo streams through the profile_uploads
// object store; nothing beyond the limit is ever read.
func (g *Gateway) updateImage(c echo.Context) error {
	boundary, err := imageBoundary(c)
	if err != nil {
		return err
	}
	var reply []byte
	err = g.receiveUpload(c, boundary, uploads.ProfileBucket, imageSpec(g.imageMaxBytes), nil, func(ctx context.Context, name string) (err error) {
		reply, err = natsx.CallRaw(ctx, g.nc, contract.ProfileUpdateImage, []byte(name))
		return err
	})
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, reply)
}

func imageSpec(max int64) uploadSpec { return uploadSpec{file: "image", max: max} }

// imageBoundary is the multipart boundary of a photo upload.
func imageBoundary(c echo.Context) (string, error) {
	mt, params, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEMultipartForm || params["boundary"] == "" {
		return "", &contract.Error{Code: contract.UnsupportedMedia, Message: "Send the image as multipart/form-data."}
	}
	return params["boundary"], nil
}

// imageRoute is the photo upload's full path: the JSON body limit skips it.
const imageRoute = "/api/v2/update_image"
