package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ferretReadyTimeout bounds the readiness ping when ctx has no deadline.
const ferretReadyTimeout = 30 * time.Second

// ferretNewMu serialises ferretdb.New: it writes a package-level version
// field, which races when tests start several instances in parallel.
var ferretNewMu sync.Mutex

// Mongo is an in-process FerretDB (MongoDB wire protocol) on SQLite.
type Mongo struct {
	URI string // mongodb://127.0.0.1:port/

	cancel  context.CancelFunc
	done    chan struct{}
	indexer *idIndexer
}

// StartFerretDB starts FerretDB with its SQLite backend storing under
// dataDir and listening on addr ("127.0.0.1:0" picks a random port). It
// returns once the server answers a ping. ctx bounds only the start; the
// server runs until Shutdown.
func StartFerretDB(ctx context.Context, dataDir, addr string) (*Mongo, error) {
	absDataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded ferretdb: data dir: %w", err)
	}
	if err := os.MkdirAll(absDataDir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded ferretdb: data dir: %w", err)
	}
	// FerretDB runs SQLite in WAL mode with its default synchronous=FULL: an
	// fsync per commit, two per ledger append (BenchmarkLedgerAppend under
	// strace: 19,202 fsyncs for its 9,461 appends, 255 with NORMAL, and
	// about 15% less CPU and 20% less time per append). With WAL, NORMAL
	// still survives a crash of the process; only an OS crash or power cut
	// can lose the last commits, never corrupt the file. This store is the
	// dev and test stack; production runs on MongoDB.
	sqliteURL := &url.URL{Scheme: "file", Path: absDataDir + "/", OmitHost: true, RawQuery: "_pragma=synchronous(normal)"}

	ferretNewMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Logger:    newQuietFerretLogger(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Handler:   "sqlite",
		SQLiteURL: sqliteURL.String(),
	})
	ferretNewMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("embedded ferretdb: %w", err)
	}

	// Run also closes the SQLite backend when it returns, so it must run even
	// if the start fails from here on.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m := &Mongo{cancel: cancel, done: make(chan struct{}), indexer: startIDIndexer(absDataDir)}
	go func() {
		defer close(m.done)
		_ = f.Run(runCtx) // always nil; it returns when runCtx is done
	}()

	// FerretDB reports the bound address, which for a wildcard listen is not
	// one to dial.
	uri, err := url.Parse(f.MongoDBURI())
	if err != nil {
		m.Shutdown()
		return nil, fmt.Errorf("embedded ferretdb: %w", err)
	}
	uri.Host = endpointHost(uri.Host)
	m.URI = uri.String()

	if err := pingMongo(ctx, m.URI); err != nil {
		m.Shutdown()
		return nil, fmt.Errorf("embedded ferretdb: not ready: %w", err)
	}
	return m, nil
}

// Shutdown stops the listener, closes the SQLite backend and waits for both.
func (m *Mongo) Shutdown() {
	m.indexer.stop()
	m.cancel()
	<-m.done
}

// IndexIDs adds the _id index (see idIndexer) to every collection now,
// rather than within indexEvery.
func (m *Mongo) IndexIDs(ctx context.Context) error { return m.indexer.IndexAll(ctx) }

// pingMongo waits for the server with a real wire-protocol round trip rather
// than a TCP dial: the listener is bound before the accept loop runs.
func pingMongo(ctx context.Context, uri string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ferretReadyTimeout)
		defer cancel()
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetDirect(true))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	return client.Ping(ctx, nil)
}
