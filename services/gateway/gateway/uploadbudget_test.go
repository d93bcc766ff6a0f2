package gateway

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
)

func TestUploadBudget(t *testing.T) {
	b := newUploadBudget(30, 20, 50*time.Millisecond)
	ctx := context.Background()
	relA, err := b.acquire(ctx, 1, 15)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.acquire(ctx, 1, 10); contract.ErrorCode(err) != contract.RateLimited || contract.AsError(err).RetryAfter == 0 {
		t.Fatalf("over the user's budget: %v", err)
	}
	relB, err := b.acquire(ctx, 2, 15)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.acquire(ctx, 3, 15); contract.ErrorCode(err) != contract.RateLimited || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("over the replica's budget: %v after %v", err, time.Since(start))
	}
	if n, _ := b.inFlight(3); n != 0 {
		t.Fatalf("a refused upload kept %d bytes of its user's budget", n)
	}
	// A waiting upload gets the bytes given back.
	got := make(chan error, 1)
	go func() {
		_, err := b.acquire(ctx, 3, 15)
		got <- err
	}()
	relA()
	relA() // once only
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	relB()
	if n, _ := b.inFlight(1); n != 0 {
		t.Fatalf("user 1 holds %d", n)
	}
	if _, err := b.acquire(ctx, 1, 15); err != nil {
		t.Fatalf("user 1 after release: %v", err)
	}
}

// A form has one reading: a field sent twice is a 422 naming it, and no
// file is kept.
func TestReadUploadTakesEachFieldOnce(t *testing.T) {
	for _, c := range []struct {
		name  string
		spec  uploadSpec
		parts [][2]string
		field string
	}{
		{"two images", imageSpec(64), [][2]string{{"image", "a"}, {"image", "b"}}, "image"},
		{"two images, the second empty", imageSpec(64), [][2]string{{"image", "a"}, {"image", ""}}, "image"},
		{"two files", documentSpec(64), [][2]string{{"typeId", "1"}, {"file", "a"}, {"file", "b"}}, "file"},
		{"two type ids around the file", documentSpec(64), [][2]string{{"typeId", "1"}, {"file", "a"}, {"typeId", "2"}}, "typeId"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct, body := multipartBody(t, c.parts...)
			req := httptest.NewRequest(http.MethodPost, documentsRoute, bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			ctx := echo.New().NewContext(req, httptest.NewRecorder())
			var sink memorySink
			form, err := readUpload(ctx, ct[strings.Index(ct, "=")+1:], c.spec, sink.put)
			if e := contract.AsError(err); e.Code != contract.Invalid || len(e.Fields[c.field]) == 0 || form.file != nil {
				t.Fatalf("%v (file kept: %v), want a 422 on %s", err, form.file != nil, c.field)
			}
		})
	}
}
