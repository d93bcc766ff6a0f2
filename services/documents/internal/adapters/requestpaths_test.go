package adapters_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/blob"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/services/documents/internal/adapters"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// storeOps sees every command a client sends: its name and collection,
// and each filter that names a field other than _id (FerretDB v1 scans
// the whole collection for those).
type storeOps struct {
	mu       sync.Mutex
	ops      []string
	scanning []string
}

// knownScans are the request-path commands that still read a whole table.
// The list may only shrink, and is empty since the review queue's key is a
// string (FerretDB v1 answers only a string or ObjectID _id from its
// index); the end-to-end TestRequestPathsFilterOnlyByID holds all services
// to the same.
var knownScans = map[string]bool{}

// unfiltered commands carry no filter, or only the driver's own.
var unfiltered = map[string]bool{"insert": true, "getMore": true, "killCursors": true, "endSessions": true,
	"ping": true, "hello": true, "isMaster": true, "ismaster": true, "buildInfo": true, "listIndexes": true, "createIndexes": true}

func (s *storeOps) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
		op := e.CommandName + " " + coll
		var filters []bson.Raw
		switch e.CommandName {
		case "find", "count", "aggregate", "distinct":
			f, _ := e.Command.Lookup("filter").DocumentOK()
			if e.CommandName == "aggregate" || e.CommandName == "distinct" {
				f = bson.Raw(`not an _id lookup`) // nothing here asks for one; any would be a scan
			}
			filters = append(filters, f)
		case "update", "delete":
			list, _ := e.Command.Lookup(e.CommandName + "s").ArrayOK()
			vals, _ := list.Values()
			for _, v := range vals {
				if d, ok := v.DocumentOK(); ok {
					q, _ := d.Lookup("q").DocumentOK()
					filters = append(filters, q)
				}
			}
		default:
			if !unfiltered[e.CommandName] {
				filters = append(filters, bson.Raw(`unknown command`))
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !unfiltered[e.CommandName] || e.CommandName == "insert" {
			s.ops = append(s.ops, op)
		}
		for _, f := range filters {
			if !embedded.Indexed(f) && !knownScans[op] {
				s.scanning = append(s.scanning, op+" "+f.String())
			}
		}
	}}
}

// take returns and forgets what was seen.
func (s *storeOps) take() (ops, scanning []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ops, scanning = s.ops, s.scanning
	s.ops, s.scanning = nil, nil
	slices.Sort(ops)
	return ops, scanning
}

// memFiles is the bucket in memory; links are signed by a real blob.Store
// (signing touches no network), so a list costs what it costs in service.
type memFiles struct {
	signer *blob.Store
	mu     sync.Mutex
	objs   map[string][]byte
	signed int
}

func newMemFiles(t testing.TB) *memFiles {
	signer, err := blob.New(blob.Config{Endpoint: "http://127.0.0.1:9", AccessKey: "bench-access", SecretKey: "bench-secret-key", Region: "us-east-1", Bucket: "documents"})
	if err != nil {
		t.Fatal(err)
	}
	return &memFiles{signer: signer, objs: map[string][]byte{}}
}

func (f *memFiles) Put(_ context.Context, key string, data []byte, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objs[key] = data
	return nil
}

func (f *memFiles) Get(_ context.Context, key string, _ int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.objs[key]; ok {
		return d, nil
	}
	return nil, blob.ErrNotFound
}

func (f *memFiles) Stat(_ context.Context, key string) (blob.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.objs[key]; ok {
		return blob.Info{Size: int64(len(d))}, nil
	}
	return blob.Info{}, blob.ErrNotFound
}

func (f *memFiles) Delete(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objs, key)
	return nil
}

func (f *memFiles) GetURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	f.mu.Lock()
	f.signed++
	f.mu.Unlock()
	return f.signer.GetURL(ctx, key, ttl)
}

func (f *memFiles) PutURL(ctx context.Context, key string, ttl time.Duration, size int64) (string, error) {
	return f.signer.PutURL(ctx, key, ttl, size)
}

func (f *memFiles) signatures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.signed
}

// monitoredService is the documents app on the adapters, on an embedded
// FerretDB reached through a client whose every command s sees.
func monitoredService(t testing.TB) (*app.Service, *storeOps, *memFiles) {
	t.Helper()
	m, err := embedded.StartFerretDB(context.Background(), t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	s := &storeOps{}
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI).SetMonitor(s.monitor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	db := client.Database("documents")
	docs, queue, ids := adapters.NewFerretV1Documents(db.Collection("documents_docs")), adapters.NewReviewQueue(db.Collection("documents_ids")), adapters.NewFerretV1IDs(db.Collection("documents_seq"))
	ctx := context.Background()
	for _, ensure := range []func(context.Context) error{docs.EnsureIndexes, queue.EnsureIndexes, ids.EnsureIndexes} {
		if err := ensure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	files := newMemFiles(t)
	svc := &app.Service{
		Docs: docs, Queue: queue, IDs: ids, Files: files,
		Uploads: func(context.Context, string, int64) ([]byte, error) { return photo(t), nil },
		Accounts: func(_ context.Context, userID int64) (contract.Account, error) {
			return contract.Account{ID: userID, Email: "holder@example.com", DeviceToken: "fcm-token"}, nil
		},
		Limits: app.Limits{MaxBytes: 1 << 20, MaxPerAccount: 20, LinkTTL: 15 * time.Minute, UploadTTL: 15 * time.Minute},
	}
	s.take() // the indexes
	return svc, s, files
}

func photo(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withDocuments gives user n documents, each of its own type.
func withDocuments(t testing.TB, svc *app.Service, user int64, n int) {
	t.Helper()
	for i := range n {
		if _, err := svc.Add(context.Background(), user, contract.AddDocumentRequest{TypeID: contract.DocumentTypes[i].ID, Upload: "upload"}); err != nil {
			t.Fatal(err)
		}
	}
}

// maxListOps is what a list of one's documents costs the store once the
// process knows the set (FerretV1Documents): the probe for a newer version.
const maxListOps = 1

// The list's store operations are counted, so one more fails here.
func TestListStoreOperations(t *testing.T) {
	svc, ops, _ := monitoredService(t)
	withDocuments(t, svc, 7, 3)
	ops.take()
	list, err := svc.List(context.Background(), 7, contract.ListDocumentsRequest{})
	if err != nil || list.Total != 3 {
		t.Fatalf("%+v %v", list, err)
	}
	got, _ := ops.take()
	t.Logf("%d store operations: %s", len(got), strings.Join(got, ", "))
	if len(got) > maxListOps {
		t.Fatalf("%d store operations per list, want at most %d: %v", len(got), maxListOps, got)
	}
}

// Every request path of the documents app asks the store by _id only:
// FerretDB v1 scans a collection for any other filter, which grows with
// the data.
func TestRequestPathsFilterOnlyByID(t *testing.T) {
	svc, ops, _ := monitoredService(t)
	ctx := context.Background()
	withDocuments(t, svc, 8, 2) // someone else's, already there
	var added []contract.Document
	for _, path := range []struct {
		name string
		call func() error
	}{
		{"types", func() error { _, err := svc.Types(ctx); return err }},
		{"list, none yet", func() error { _, err := svc.List(ctx, 7, contract.ListDocumentsRequest{}); return err }},
		{"add the first", func() error {
			d, err := svc.Add(ctx, 7, contract.AddDocumentRequest{TypeID: contract.DocumentTypes[0].ID, Upload: "upload"})
			added = append(added, d)
			return err
		}},
		{"add another", func() error {
			d, err := svc.Add(ctx, 7, contract.AddDocumentRequest{TypeID: contract.DocumentTypes[1].ID, Upload: "upload"})
			added = append(added, d)
			return err
		}},
		{"replace one", func() error {
			d, err := svc.Add(ctx, 7, contract.AddDocumentRequest{TypeID: contract.DocumentTypes[1].ID, Upload: "upload"})
			added = append(added, d)
			return err
		}},
		{"list", func() error { _, err := svc.List(ctx, 7, contract.ListDocumentsRequest{}); return err }},
		{"approve", func() error {
			_, err := svc.Review(ctx, "staff@example.com", contract.ReviewDocumentRequest{ID: added[0].ID, Decision: contract.DocumentApproved})
			return err
		}},
		{"reject", func() error {
			_, err := svc.Review(ctx, "staff@example.com", contract.ReviewDocumentRequest{ID: added[2].ID, Decision: contract.DocumentRejected, Reason: "blurred"})
			return err
		}},
		{"review an unknown document", func() error {
			_, err := svc.Review(ctx, "staff@example.com", contract.ReviewDocumentRequest{ID: 999, Decision: contract.DocumentApproved})
			if contract.ErrorCode(err) != contract.NotFound {
				return fmt.Errorf("%v, want not_found", err)
			}
			return nil
		}},
	} {
		t.Run(path.name, func(t *testing.T) {
			ops.take()
			if err := path.call(); err != nil {
				t.Fatal(err)
			}
			seen, scanning := ops.take()
			t.Logf("%d store operations: %s", len(seen), strings.Join(seen, ", "))
			if len(scanning) > 0 {
				t.Fatalf("filters on more than _id: %v", scanning)
			}
			if len(seen) == 0 && path.name != "types" {
				t.Fatal("the monitor saw nothing: it would see no filter either")
			}
		})
	}
}

// BenchmarkList is a list of 3 documents, as the service serves it: its
// store operations, time and allocations.
func BenchmarkList(b *testing.B) {
	svc, ops, files := monitoredService(b)
	withDocuments(b, svc, 7, 3)
	ops.take()
	signedBefore := files.signatures()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.List(ctx, 7, contract.ListDocumentsRequest{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	seen, _ := ops.take()
	b.ReportMetric(float64(len(seen))/float64(b.N), "storeops/op")
	b.ReportMetric(float64(files.signatures()-signedBefore)/float64(b.N), "signatures/op")
}

// BenchmarkLinkSignature is one presigned GET, what each listed document
// costs when its link is signed anew.
func BenchmarkLinkSignature(b *testing.B) {
	files := newMemFiles(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := files.signer.GetURL(ctx, "documents/7/0123456789abcdef0123456789abcdef.jpg", 15*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// answerLost is a store whose Update may write and then fail (a timeout
// after the server committed: the driver cannot tell), and whose Get may
// fail too.
type answerLost struct {
	app.Documents
	writeFirst, readFails bool
}

var errLostAnswer = errors.New("i/o timeout: the answer was lost")

func (a answerLost) Update(ctx context.Context, userID int64, change func(*app.Docs, int64) ([]contract.Event, error)) (app.Docs, int64, error) {
	if a.writeFirst {
		if _, _, err := a.Documents.Update(ctx, userID, change); err != nil {
			return app.Docs{}, 0, err
		}
	}
	return app.Docs{}, 0, errLostAnswer
}

func (a answerLost) Get(ctx context.Context, userID int64) (app.Docs, int64, error) {
	if a.readFails {
		return app.Docs{}, 0, errLostAnswer
	}
	return a.Documents.Get(ctx, userID)
}

// An upload whose record was stored, but whose answer the store lost,
// had its file deleted and its queue mark settled: a pending document
// whose link was a 404 and that no reviewer would ever see. Add now looks
// before it cleans up: a stored document is answered, one not stored is
// cleaned up, and one it cannot tell keeps its file and mark.
func TestAnAddWhoseAnswerWasLostKeepsItsFile(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name                  string
		writeFirst, readFails bool
		wantErr, wantKept     bool
	}{
		{"written, answer lost", true, false, false, true},
		{"written, and the store cannot tell", true, true, true, true},
		{"not written", false, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _, files := monitoredService(t)
			svc.Docs = answerLost{Documents: svc.Docs, writeFirst: tc.writeFirst, readFails: tc.readFails}
			_, err := svc.Add(ctx, 7, contract.AddDocumentRequest{TypeID: contract.DocumentTypes[0].ID, Upload: "upload"})
			if (err != nil) != tc.wantErr {
				t.Fatalf("add: %v; want an error %v", err, tc.wantErr)
			}
			files.mu.Lock()
			kept := len(files.objs)
			files.mu.Unlock()
			marks, merr := svc.Queue.Awaiting(ctx, 10)
			if merr != nil {
				t.Fatal(merr)
			}
			if (kept == 1) != tc.wantKept || (len(marks) == 1) != tc.wantKept {
				t.Fatalf("%d files and %d queue marks after it; want them kept: %v", kept, len(marks), tc.wantKept)
			}
		})
	}
}
