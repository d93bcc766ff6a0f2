package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/semaphore"

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
// approval, with the names and photo the caller compared it with if the
// body says, or a rejection with the body's reason.
func reviewRequest(decision string) func(echo.Context) (contract.ReviewDocumentRequest, error) {
	return func(c echo.Context) (contract.ReviewDocumentRequest, error) {
		id, err := documentID("id")(c)
		if err != nil {
			return contract.ReviewDocumentRequest{}, err
		}
		if decision == contract.DocumentApproved {
			// Optional: the names and photo the caller compared the
			// document with; without them it vouches for none.
			var body struct {
				SeenAs *contract.ReviewedIdentity `json:"seen_as"`
			}
			if err := bindJSON(c, &body); err != nil {
				return contract.ReviewDocumentRequest{}, err
			}
			return contract.ReviewDocumentRequest{ID: id.ID, Decision: decision, SeenAs: body.SeenAs}, nil
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

// multipartSlack is room for the multipart framing and small fields
// around the file.
const multipartSlack = 64 << 10

// maxSmallField bounds a form field beside the file (a type id).
const maxSmallField = 32

// uploadSpec is the shape of one upload form.
type uploadSpec struct {
	file  string   // the file part's name
	max   int64    // the file's limit
	small []string // the other fields the route reads
}

// uploadForm is a form as read: the file already stored, the small
// fields' values.
type uploadForm struct {
	file   *uploads.Upload
	fields map[string]string
}

// fileSink stores the file part as it arrives.
type fileSink func(ctx context.Context, r io.Reader) (*uploads.Upload, error)

// objectSink is the production sink: the uploads object store.
func (g *Gateway) objectSink(bucket string) fileSink {
	return func(ctx context.Context, r io.Reader) (*uploads.Upload, error) {
		js, err := jetstream.New(g.nc)
		if err != nil {
			return nil, uploads.Unavailable(err)
		}
		return uploads.Put(ctx, js, bucket, r)
	}
}

// reserveUpload takes the request's bytes from the upload budget before
// any is read: the declared length, or the most the route accepts when
// none is declared. A body declared larger than that is a 413 at once.
func (g *Gateway) reserveUpload(c echo.Context, max int64) (func(), error) {
	n := c.Request().ContentLength
	var err error
	var release func()
	switch {
	case n > max+multipartSlack:
		err = echo.NewHTTPError(http.StatusRequestEntityTooLarge)
	case n < 0:
		n = max + multipartSlack
	}
	if err == nil {
		release, err = g.budget.acquire(c.Request().Context(), c.Get(callerKey).(contract.Principal).UserID, n)
	}
	if err != nil {
		// Refused unread: without this, net/http would first read up to
		// 256 KB of the body the client is still sending, and the client
		// would wait for that before it sees the answer.
		c.Response().Header().Set(echo.HeaderConnection, "close")
	}
	return release, err
}

// receiveUpload is the intake both upload routes run: it reserves the
// request's bytes in the upload budget, streams the multipart form (the
// file into bucket's object store), lets check (nil: none) name every
// missing or malformed field beside it, requires the file, and hands it
// to call under the request's caller. The file stays stored only if call
// succeeds.
func (g *Gateway) receiveUpload(c echo.Context, boundary, bucket string, spec uploadSpec, check func(uploadForm) error, call func(ctx context.Context, upload string) error) error {
	release, err := g.reserveUpload(c, spec.max)
	if err != nil {
		return err
	}
	defer release()
	form, err := readUpload(c, boundary, spec, g.objectSink(bucket))
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(form); err != nil {
			if form.file != nil {
				form.file.Discard(c.Request().Context())
			}
			return err
		}
	}
	if form.file == nil {
		return contract.FieldError(spec.file, "The "+spec.file+" field is required.")
	}
	ctx := g.callCtx(c)
	return form.file.Hand(ctx, func(name string) error { return call(ctx, name) })
}

// readUpload streams a multipart body: the file part goes to sink as it
// arrives (413 beyond spec.max), each small field is read whole, other
// parts are skipped; an absent or empty file is a nil form.file. Each field is taken exactly once: a second part of
// the same name is a 422, since two readers of the form (this one, a
// proxy, a log) could each take a different one. On error nothing stays
// stored.
func readUpload(c echo.Context, boundary string, spec uploadSpec, sink fileSink) (form uploadForm, err error) {
	ctx := c.Request().Context()
	defer func() {
		if err != nil && form.file != nil {
			form.file.Discard(ctx)
			form.file = nil
		}
	}()
	body := http.MaxBytesReader(c.Response(), c.Request().Body, spec.max+multipartSlack)
	mr := multipart.NewReader(body, boundary)
	form.fields = map[string]string{}
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return form, readError(err, spec.file)
		}
		name := part.FormName()
		if name != spec.file && !slices.Contains(spec.small, name) {
			continue // NextPart discards it, within the body limit
		}
		if seen[name] {
			return form, contract.FieldError(name, "The "+name+" field must be sent once.")
		}
		seen[name] = true
		if name == spec.file {
			if form.file, err = sink(ctx, &capped{r: part, left: spec.max, field: name}); err != nil {
				return form, readError(err, name)
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, maxSmallField))
		if err != nil {
			return form, readError(err, spec.file)
		}
		form.fields[name] = string(v)
	}
	if form.file != nil && form.file.Size == 0 {
		form.file.Discard(ctx)
		form.file = nil // the caller says it is required
	}
	return form, nil
}

// capped reads at most left bytes and fails on one more: the file is
// refused as soon as it is seen to be too large.
type capped struct {
	r     io.Reader
	left  int64
	field string
}

func (c *capped) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if c.left -= int64(n); c.left < 0 {
		return 0, tooLarge(c.field)
	}
	return n, err
}

func tooLarge(field string) error {
	return &contract.Error{Code: contract.TooLarge, Message: "The " + field + " is too large."}
}

func readError(err error, field string) error {
	var mbe *http.MaxBytesError
	var he *echo.HTTPError
	var ce *contract.Error
	switch {
	case errors.As(err, &mbe):
		return tooLarge(field)
	case errors.As(err, &he), errors.As(err, &ce):
		return err
	}
	return badRequest{"The request body could not be read."}
}

// uploadBudget bounds the upload bytes in flight through this replica, per
// user and in all: 60 concurrent 10 MiB uploads once took the process to
// 1.4 GiB. An upload reserves what its request may carry before a byte of
// it is read, and gives it back when its handler returns, whatever the
// outcome (stored, refused, or the client gone).
type uploadBudget struct {
	perUser int64
	// wait is how long an upload may queue for the replica's budget; one
	// over its user's budget is refused at once.
	wait  time.Duration
	total *semaphore.Weighted
	mu    sync.Mutex
	users map[int64]int64
}

// uploadRetryAfter is the Retry-After of a refused upload, in seconds: an
// upload of the largest size takes about that long.
const uploadRetryAfter = 2

var uploadBytesInFlight = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "doss_gateway_upload_bytes_in_flight",
	Help: "Upload bytes reserved by the requests under way in this replica.",
})

var uploadsRefused = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "doss_gateway_uploads_refused_total",
	Help: "Uploads refused with a 429 because a budget was spent, by budget (user, replica).",
}, []string{"budget"})

func newUploadBudget(total, perUser int64, wait time.Duration) *uploadBudget {
	return &uploadBudget{perUser: perUser, wait: wait, total: semaphore.NewWeighted(total), users: map[int64]int64{}}
}

// acquire reserves n bytes for user; release gives them back (once, however
// often it is called).
func (b *uploadBudget) acquire(ctx context.Context, user, n int64) (release func(), err error) {
	b.mu.Lock()
	if b.users[user]+n > b.perUser {
		b.mu.Unlock()
		uploadsRefused.WithLabelValues("user").Inc()
		return nil, &contract.Error{Code: contract.RateLimited, RetryAfter: uploadRetryAfter,
			Message: "You have too many uploads under way. Please wait for them to finish."}
	}
	b.users[user] += n
	b.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, b.wait)
	err = b.total.Acquire(wctx, n)
	cancel()
	if err != nil {
		b.giveBack(user, n)
		uploadsRefused.WithLabelValues("replica").Inc()
		return nil, &contract.Error{Code: contract.RateLimited, RetryAfter: uploadRetryAfter,
			Message: "Too many uploads are under way. Please try again in a moment."}
	}
	uploadBytesInFlight.Add(float64(n))
	return sync.OnceFunc(func() {
		b.total.Release(n)
		b.giveBack(user, n)
		uploadBytesInFlight.Sub(float64(n))
	}), nil
}

func (b *uploadBudget) giveBack(user, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.users[user] -= n; b.users[user] <= 0 {
		delete(b.users, user)
	}
}

// inFlight is what user holds, and whether anyone holds anything (tests).
func (b *uploadBudget) inFlight(user int64) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.users[user], len(b.users) > 0
}
