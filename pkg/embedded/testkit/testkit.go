// Package testkit starts the embedded stack for a test and stops it when the
// test ends.
//
// versitygw runs at most once per process, so every Stack alive at the same
// time in one test binary (parallel tests) shares one S3 server; each test
// should use its own bucket names. The shared server stops, and its data is
// removed, when the last test using it ends, so sequential tests each see an
// empty S3. While it runs the process working directory is the S3 data dir
// (see embedded.StartS3): resolve testdata paths before calling Start.
package testkit

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/events"
)

// Credentials of the S3 server every Stack uses.
const (
	S3AccessKey = "testkit-access-key"
	S3SecretKey = "testkit-secret-key"
)

// Stack is a running NATS, FerretDB and S3, each on a random port.
type Stack struct {
	NATS  *embedded.NATS
	Mongo *embedded.Mongo
	S3    *embedded.S3 // shared with parallel tests; do not shut it down
	Dir   string       // NATS and FerretDB data live under it
}

// Start starts NATS, FerretDB and S3 for t and stops them, in reverse order,
// when t ends.
func Start(t testing.TB) *Stack {
	t.Helper()
	dir := t.TempDir()
	s := &Stack{Dir: dir}
	s.NATS = startNATS(t, filepath.Join(dir, "nats"))

	m, err := embedded.StartFerretDB(context.Background(), filepath.Join(dir, "ferretdb"), "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(m.Shutdown)
	s.Mongo = m

	s.S3 = acquireS3(t)
	return s
}

// StartNATS starts only NATS for t and stops it when t ends.
func StartNATS(t testing.TB) *embedded.NATS {
	t.Helper()
	return startNATS(t, filepath.Join(t.TempDir(), "nats"))
}

func startNATS(t testing.TB, storeDir string) *embedded.NATS {
	t.Helper()
	n, err := embedded.StartNATS(storeDir, -1)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(n.Shutdown)
	return n
}

// sharedS3 is the process's one S3 server and how many tests hold it.
var sharedS3 struct {
	mu    sync.Mutex
	s3    *embedded.S3
	dir   string
	users int
}

func acquireS3(t testing.TB) *embedded.S3 {
	t.Helper()
	sharedS3.mu.Lock()
	defer sharedS3.mu.Unlock()
	if sharedS3.users == 0 {
		// Not t.TempDir: the server may outlive t while parallel tests use it.
		dir, err := os.MkdirTemp("", "testkit-s3-")
		if err != nil {
			t.Fatalf("testkit: %v", err)
		}
		s, err := embedded.StartS3(context.Background(), dir, "127.0.0.1:0", S3AccessKey, S3SecretKey)
		if err != nil {
			_ = os.RemoveAll(dir)
			t.Fatalf("testkit: %v", err)
		}
		sharedS3.s3, sharedS3.dir = s, dir
	}
	sharedS3.users++
	t.Cleanup(releaseS3)
	return sharedS3.s3
}

func releaseS3() {
	sharedS3.mu.Lock()
	defer sharedS3.mu.Unlock()
	sharedS3.users--
	if sharedS3.users > 0 {
		return
	}
	sharedS3.s3.Shutdown()
	_ = os.RemoveAll(sharedS3.dir)
	sharedS3.s3, sharedS3.dir = nil, ""
}

// Database starts only FerretDB for t and returns the database name on a
// client of it; both stop when t ends, the client first.
func Database(t testing.TB, name string) *mongo.Database {
	t.Helper()
	return connect(t, startFerretDB(t).URI, name)
}

// WatchedDatabase is Database with every command passing through a
// FilterWatch, which the test reads: what a store operation filtered on.
func WatchedDatabase(t testing.TB, name string) (*mongo.Database, *embedded.FilterWatch) {
	t.Helper()
	w, err := embedded.WatchFilters(startFerretDB(t).URI)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(w.Close)
	return connect(t, w.URI, name), w
}

func startFerretDB(t testing.TB) *embedded.Mongo {
	t.Helper()
	m, err := embedded.StartFerretDB(context.Background(), t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(m.Shutdown)
	return m
}

func connect(t testing.TB, uri, name string) *mongo.Database {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(name)
}

// EventStreams makes the events streams on n as auth's first start would
// (only auth may, on the bus: contract.BusUser.Creates), for a test that
// runs another service without auth.
func EventStreams(t testing.TB, n *embedded.NATS) {
	t.Helper()
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	if err := events.EnsureStreams(context.Background(), js, 1); err != nil {
		t.Fatalf("testkit: %v", err)
	}
}
