package gateway

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/uploads"
)

// documentsRoute is the upload's full path: the JSON body limit skips it,
// the handler bounds each form itself.
const documentsRoute = "/api/v2/my/documents"

// documentJSONLimit bounds the JSON form of an upload: a key and a type id.
const documentJSONLimit = 16 << 10

// reviewRequest reads an admin decision on the document in the path: an
// approval, or a rejection with the body's reason.
func reviewRequest(decision string) func(echo.Context) (contract.ReviewDocumentRequest, error) {
	return func(c echo.Context) (contract.ReviewDocumentRequest, error) {
		id, err := documentID("id")(c)
		if err != nil || decision != contract.DocumentRejected {
			return contract.ReviewDocumentRequest{ID: id.ID, Decision: decision}, err
		}
		var body struct {
			Reason string `json:"reason"`
		}
		if err := bindJSON(c, &body); err != nil {
			return contract.ReviewDocumentRequest{}, err
		}
		return contract.ReviewDocumentRequest{ID: id.ID, Decision: decision, Reason: body.Reason}, nil
	}
}

// forwardQuery builds the request from the path and query with read, calls
// subject, and answers the reply as it is (no body for 204).
func forwardQuery[Req, Resp any](g *Gateway, subject string, read func(echo.Context) (Req, error), status int) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := read(c)
		if err != nil {
			return err
		}
		resp, err := natsx.Call[Req, Resp](g.callCtx(c), g.nc, subject, req)
		if err != nil {
			return err
		}
		if status == http.StatusNoContent {
			return c.NoContent(status)
		}
		return c.JSON(status, resp)
	}
}

// documentID reads a path id; a malformed one is the same 404 as someone
// else's or a missing one.
func documentID(param string) func(echo.Context) (contract.DocumentRequest, error) {
	return func(c echo.Context) (contract.DocumentRequest, error) {
		id, err := strconv.ParseInt(c.Param(param), 10, 64)
		if err != nil || id <= 0 {
			return contract.DocumentRequest{}, contract.DocumentNotFound()
		}
		return contract.DocumentRequest{ID: id}, nil
	}
}

// page reads ?limit and ?offset; absent is nil (the service's default),
// anything but an integer is a 422.
func page(c echo.Context) (contract.ListDocumentsRequest, error) {
	var req contract.ListDocumentsRequest
	var v contract.Validation
	for _, f := range []struct {
		name string
		dst  **int
	}{{"limit", &req.Limit}, {"offset", &req.Offset}} {
		s := c.QueryParam(f.name)
		if s == "" && !c.QueryParams().Has(f.name) {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			v.Add(f.name, "The "+f.name+" must be an integer.")
			continue
		}
		*f.dst = &n
	}
	return req, v.Err()
}

// listDocuments answers a bare array, newest first, with the total in
// X-Total-Count. The first page (no limit or offset asked) comes from the
// documents cache when it can.
func (g *Gateway) listDocuments(c echo.Context) error {
	req, err := page(c)
	if err != nil {
		return err
	}
	p, err := cachedCall(g, c, g.documents, c.QueryString() == "", contract.DocumentsList, req, func(r contract.DocumentList) (documentsPage, error) {
		if r.Documents == nil {
			r.Documents = []contract.Document{}
		}
		body, err := json.Marshal(r.Documents)
		return documentsPage{body: body, total: r.Total}, err
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("X-Total-Count", strconv.Itoa(p.total))
	return c.JSONBlob(http.StatusOK, p.body)
}

// pendingDocuments is the review queue, oldest first.
func (g *Gateway) pendingDocuments(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	req := contract.AdminListDocumentsRequest{Status: c.QueryParam("status"), ListDocumentsRequest: p}
	r, err := natsx.Call[contract.AdminListDocumentsRequest, contract.AdminDocumentList](g.callCtx(c), g.nc, contract.DocumentsAdminList, req)
	if err != nil {
		return err
	}
	c.Response().Header().Set("X-Total-Count", strconv.Itoa(r.Total))
	if r.Documents == nil {
		r.Documents = []contract.AdminDocument{}
	}
	return c.JSON(http.StatusOK, r.Documents)
}

// addDocument answers POST /api/v2/my/documents: multipart ("file" and
// "typeId", the file streamed through the documents_uploads object store,
// 413 as soon as it exceeds the limit) or JSON {"file": key, "typeId"}
// naming a presigned upload.
func (g *Gateway) addDocument(c echo.Context) error {
	mt, params, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	var req contract.AddDocumentRequest
	switch {
	case err == nil && mt == echo.MIMEMultipartForm && params["boundary"] != "":
		var doc contract.Document
		err := g.receiveUpload(c, params["boundary"], uploads.DocumentsBucket, documentSpec(g.documentMaxBytes), func(form uploadForm) (err error) {
			req.TypeID, err = checkDocumentForm(form)
			return err
		}, func(ctx context.Context, name string) (err error) {
			req.Upload = name
			doc, err = natsx.Call[contract.AddDocumentRequest, contract.Document](ctx, g.nc, contract.DocumentsAdd, req)
			return err
		})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, doc)
	case err == nil && mt == echo.MIMEApplicationJSON:
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, documentJSONLimit)
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		req.Upload = "" // only the multipart path names an upload
		doc, err := natsx.Call[contract.AddDocumentRequest, contract.Document](g.callCtx(c), g.nc, contract.DocumentsAdd, req)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, doc)
	}
	return &contract.Error{Code: contract.UnsupportedMedia, Message: "Send the document as multipart/form-data or application/json."}
}

func documentSpec(max int64) uploadSpec {
	return uploadSpec{file: "file", max: max, small: []string{"typeId"}}
}

// checkDocumentForm names every missing or malformed field of the form
// and returns its type id.
func checkDocumentForm(form uploadForm) (int, error) {
	var v contract.Validation
	if form.file == nil {
		v.Add("file", "The file field is required.")
	}
	n, err := strconv.Atoi(form.fields["typeId"])
	if err != nil {
		v.Add("typeId", "The typeId field must be a document type id.")
	}
	return n, v.Err()
}
