package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB itself uses, for the _id indexes
)

// FerretDB v1 answers every _id lookup, hit or miss, and every update by
// _id with `WHERE _ferretdb_sjson->'$._id' = ?`, while the unique index it
// creates for _id is on `_ferretdb_sjson->"_id"`: another expression, so
// SQLite never uses it and scans the whole table (at 5,000 documents: a
// hit 7 ms, a miss 15 ms, an update 29 ms). An index on the expression
// the queries use makes them 0.3 ms. FerretDB creates tables as
// collections are first written, so idIndexer adds the index to each new
// table within indexEvery. The index is SQLite's alone: FerretDB does not
// list it, and a dropped collection drops it.
type idIndexer struct {
	dir    string
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	dbs map[string]*sql.DB // per database file
}

const indexEvery = 250 * time.Millisecond

func startIDIndexer(dir string) *idIndexer {
	ctx, cancel := context.WithCancel(context.Background())
	x := &idIndexer{dir: dir, cancel: cancel, done: make(chan struct{}), dbs: map[string]*sql.DB{}}
	go func() {
		defer close(x.done)
		t := time.NewTicker(indexEvery)
		defer t.Stop()
		for {
			_ = x.IndexAll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return x
}

// stop ends the indexer and closes its connections.
func (x *idIndexer) stop() {
	x.cancel()
	<-x.done
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, db := range x.dbs {
		_ = db.Close()
	}
	x.dbs = nil
}

// IndexAll adds the _id index to every collection table that lacks it.
func (x *idIndexer) IndexAll(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	if err != nil {
		return err
	}
	var first error
	for _, f := range files {
		if err := x.indexFile(ctx, f); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (x *idIndexer) indexFile(ctx context.Context, file string) error {
	db, err := x.open(file)
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE '\_ferretdb\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		AND name || '_doss_id' NOT IN (SELECT name FROM sqlite_master WHERE type = 'index')`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	for _, t := range tables {
		// A table dropped meanwhile fails here and is gone from the next look.
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, t+"_doss_id", t)); err != nil {
			return fmt.Errorf("index %s: %w", t, err)
		}
	}
	return nil
}

func (x *idIndexer) open(file string) (*sql.DB, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if db, ok := x.dbs[file]; ok {
		return db, nil
	}
	// FerretDB's own connections wait for a lock up to 10 s; so does this.
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	x.dbs[file] = db
	return db, nil
}
