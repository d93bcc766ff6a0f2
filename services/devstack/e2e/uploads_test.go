package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/imagex/imagextest"
	"github.com/dossapp/backend/pkg/uploads"
)

// heldUpload is a document upload whose body is half sent: it holds its
// share of the gateway's upload budget until it is finished or dropped.
type heldUpload struct {
	next   chan bool
	status chan int
}

func (e *env) holdUpload(token string, file []byte) *heldUpload {
	e.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("typeId", "1")
	fw, _ := w.CreateFormFile("file", "d.jpg")
	_, _ = fw.Write(file)
	_ = w.Close()
	raw := body.Bytes()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, e.base+"/api/v2/my/documents", pr) // no length: the gateway reserves the route's limit
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	h := &heldUpload{next: make(chan bool, 1), status: make(chan int, 1)}
	go func() {
		_, _ = pw.Write(raw[:len(raw)/2])
		if <-h.next {
			_, _ = pw.Write(raw[len(raw)/2:])
			_ = pw.Close()
			return
		}
		_ = pw.CloseWithError(errors.New("the client went away"))
	}()
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			h.status <- 0
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		h.status <- res.StatusCode
	}()
	e.t.Cleanup(func() { h.next <- false })
	return h
}

// finish sends the rest and returns the answer's status.
func (h *heldUpload) finish() int { h.next <- true; return <-h.status }

// drop cuts the body off, as a phone that loses its signal.
func (h *heldUpload) drop() { h.next <- false; <-h.status }

// answered is the status when the gateway already answered.
func (h *heldUpload) answered() (int, bool) {
	select {
	case st := <-h.status:
		h.status <- st
		return st, true
	default:
		return 0, false
	}
}

func bytesInFlight(t *testing.T) float64 {
	return scrapeMetrics(t).value("doss_gateway_upload_bytes_in_flight", nil)
}

// uploadsStored is the size of the gateway's upload bucket: chunks of any
// file not yet taken, or half written.
func (e *env) uploadsStored() uint64 {
	e.t.Helper()
	js, err := jetstream.New(e.nc)
	if err != nil {
		e.t.Fatal(err)
	}
	store, err := js.ObjectStore(e.t.Context(), uploads.DocumentsBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := store.Status(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Size()
}

// Issue 15: 60 concurrent 10 MiB uploads took the process to 1.4 GiB. An
// upload reserves its bytes before any is read, per user and per replica;
// beyond either budget it is a 429 with Retry-After, and whatever way it
// ends (stored, refused, the client gone), its bytes are given back.
func TestUploadBudgets(t *testing.T) {
	const limit = 256 << 10
	const reserved = limit + 64<<10 // the route's limit and the form's slack
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	e := start(t, map[string]string{
		"DOSS_S3_BUCKET":                       "budget-" + hex.EncodeToString(suffix),
		"DOSS_DOCUMENT_MAX_BYTES":              fmt.Sprint(limit),
		"DOSS_IMAGE_MAX_BYTES":                 fmt.Sprint(limit),
		"DOSS_UPLOAD_BYTES_IN_FLIGHT_PER_USER": fmt.Sprint(reserved),     // one upload at a time
		"DOSS_UPLOAD_BYTES_IN_FLIGHT":          fmt.Sprint(2 * reserved), // two in all
		"DOSS_UPLOAD_QUEUE_WAIT":               "200ms",
	})
	users := make([]string, 8)
	for i := range users {
		_, users[i] = e.register(fmt.Sprintf("budget%d@example.com", i), fmt.Sprintf("+1868123%04d", 5000+i), "4829")
	}
	photo := imagextest.JPEG(64, 64, 0)
	// The held body is far larger than a chunk's worth of framing, so
	// that a half-written one shows in the bucket.
	big := append(imagextest.JPEG(64, 64, 0), bytes.Repeat([]byte{0}, 128<<10)...)
	idle := func(what string) {
		t.Helper()
		eventually(t, what, func() bool { return bytesInFlight(t) == 0 })
	}
	idle("an idle gateway")

	t.Run("over the user's budget: 429 with Retry-After, nothing written", func(t *testing.T) {
		held := e.holdUpload(users[0], big)
		eventually(t, "the held upload's reservation", func() bool { return bytesInFlight(t) == reserved })
		r := e.addDocument(users[0], "1", "d.jpg", photo)
		expect(t, r, http.StatusTooManyRequests)
		if r.header.Get("Retry-After") == "" || r.str("message") == "" {
			t.Fatalf("Retry-After %q, body %s", r.header.Get("Retry-After"), r.raw)
		}
		if docs, _ := e.listDocuments(users[0], ""); len(docs) != 0 {
			t.Fatalf("a refused upload was stored: %+v", docs)
		}
		// Another user is not held up by the first one's budget.
		expect(t, e.addDocument(users[1], "1", "d.jpg", photo), http.StatusCreated)
		if st := held.finish(); st != http.StatusCreated {
			t.Fatalf("the held upload: %d", st)
		}
		idle("the budget given back after success")
		expect(t, e.addDocument(users[0], "2", "d.jpg", photo), http.StatusCreated)
	})

	t.Run("given back after a failure", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			data   []byte
			status int
		}{
			{"not an image", []byte("plain text, not a scan"), http.StatusUnsupportedMediaType},
			{"too large", bytes.Repeat([]byte{0xff}, limit+1), http.StatusRequestEntityTooLarge},
		} {
			expect(t, e.addDocument(users[2], "1", "d.jpg", c.data), c.status)
			idle("the budget given back after " + c.name)
		}
		expect(t, e.addDocument(users[2], "1", "d.jpg", photo), http.StatusCreated)
	})

	t.Run("given back when the client goes away, and the half file removed", func(t *testing.T) {
		baseline := e.uploadsStored()
		held := e.holdUpload(users[3], big)
		eventually(t, "the held upload's first chunks", func() bool { return e.uploadsStored() > baseline })
		held.drop()
		idle("the budget given back after a disconnect")
		eventually(t, "the half-written upload to be purged", func() bool { return e.uploadsStored() <= baseline })
		expect(t, e.addDocument(users[3], "1", "d.jpg", photo), http.StatusCreated)
	})

	t.Run("the replica's budget holds under concurrency", func(t *testing.T) {
		idle("an idle gateway")
		var held []*heldUpload
		for _, u := range users[2:] { // six users at once, room for two
			held = append(held, e.holdUpload(u, big))
		}
		refused := func() (n int) {
			for _, h := range held {
				if st, ok := h.answered(); ok {
					if st != http.StatusTooManyRequests {
						t.Fatalf("an upload over the replica's budget got %d", st)
					}
					n++
				}
			}
			return n
		}
		eventually(t, "four refusals", func() bool { return refused() == 4 })
		if got := bytesInFlight(t); got != 2*reserved {
			t.Fatalf("%v bytes in flight, want %d", got, 2*reserved)
		}
		for _, h := range held {
			if _, ok := h.answered(); !ok {
				if st := h.finish(); st != http.StatusCreated {
					t.Fatalf("an admitted upload: %d", st)
				}
			}
		}
		idle("every reservation given back")
		if refused() != 4 {
			t.Fatal("more than four refused")
		}
	})
}
