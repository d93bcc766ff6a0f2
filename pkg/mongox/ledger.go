package mongox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Entry is one link of a ledger chain.
type Entry struct {
	ID   string    `bson:"_id"`
	Key  string    `bson:"key"`
	Seq  int64     `bson:"seq"`
	Kind string    `bson:"kind"`
	At   time.Time `bson:"at"`
	// Recent carries the chain's previous entries, newest first, up to
	// RecentEntries-1 of them, so reading a chain's tail is one lookup.
	Recent recentList `bson:"recent,omitempty"`
}

type recent struct {
	Kind string    `bson:"k"`
	At   time.Time `bson:"t"`
}

// recentList is stored as one binary value (per entry: the time in Unix
// milliseconds, the kind's length, the kind) rather than an array of
// documents: FerretDB v1 converts every array element to and from JSON
// with its schema, and 63 of them made each head update cost ~2 ms of
// the store's CPU, most of a login's store time. Arrays written before
// are still read.
type recentList []recent

func (r recentList) MarshalBSONValue() (byte, []byte, error) {
	// A BSON binary: its length (set last), the generic subtype, the bytes.
	data := make([]byte, 5, 5+len(r)*13)
	for _, e := range r {
		if len(e.Kind) > 255 {
			return 0, nil, fmt.Errorf("ledger entry kind %q too long", e.Kind[:16])
		}
		data = binary.BigEndian.AppendUint64(data, uint64(e.At.UnixMilli()))
		data = append(data, byte(len(e.Kind)))
		data = append(data, e.Kind...)
	}
	binary.LittleEndian.PutUint32(data, uint32(len(data)-5))
	return byte(bson.TypeBinary), data, nil
}

func (r *recentList) UnmarshalBSONValue(typ byte, data []byte) error {
	raw := bson.RawValue{Type: bson.Type(typ), Value: data}
	switch raw.Type {
	case bson.TypeNull:
		*r = nil
		return nil
	case bson.TypeArray:
		var old []recent
		if err := raw.Unmarshal(&old); err != nil {
			return err
		}
		*r = old
		return nil
	case bson.TypeBinary:
	default:
		return fmt.Errorf("ledger recent entries: unexpected BSON type %v", raw.Type)
	}
	_, p, ok := raw.BinaryOK()
	if !ok {
		return fmt.Errorf("ledger recent entries: malformed binary")
	}
	out := recentList{}
	for len(p) > 0 {
		if len(p) < 9 || len(p) < 9+int(p[8]) {
			return fmt.Errorf("ledger recent entries: truncated")
		}
		n := int(p[8])
		out = append(out, recent{At: time.UnixMilli(int64(binary.BigEndian.Uint64(p))).UTC(), Kind: string(p[9 : 9+n])})
		p = p[9+n:]
	}
	*r = out
	return nil
}

// RecentEntries is how many of a chain's newest entries a read gets
// without further lookups; older ones cost one _id lookup each.
const RecentEntries = 64

// Ledger appends entries to per-key chains; the unique _id key#seq makes
// each sequence number go to exactly one writer, so a decision taken on
// the chain's tail holds even with many writers at once.
//
// Every read is by _id, which FerretDB v1 answers from its primary index
// (anything else is a scan of the whole collection, and a ledger keeps
// two days of every attempt of every user): a chain's head (key#head)
// copies its newest entry, a probe finds a newer one the head has not
// caught up with, and each entry carries the ones before it.
type Ledger struct {
	c *mongo.Collection
	// heads live in a collection of their own ("<name>_heads"), one per
	// chain: an update scans its whole collection on FerretDB v1 (SQLite
	// UPDATE does not stop at the match), and the entries are many more.
	heads *mongo.Collection
	now   func() time.Time
	local stripes

	mu    sync.Mutex
	known map[string]Entry // newest entry this process wrote or read, per key
}

// maxKnown bounds the remembered chain ends; past it they start over.
const maxKnown = 50_000

func NewLedger(c *mongo.Collection, now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{c: c, heads: c.Database().Collection(c.Name() + "_heads"), now: now, known: map[string]Entry{}}
}

// EnsureIndexes helps real MongoDB with the legacy read path.
func (l *Ledger) EnsureIndexes(ctx context.Context) error {
	return EnsureIndexes(ctx, l.c, map[string]bson.D{"key_seq": {{Key: "key", Value: 1}, {Key: "seq", Value: -1}}})
}

// Tail is a chain's entries as of one read, newest first.
type Tail struct {
	ctx    context.Context
	l      *Ledger
	key    string
	newest Entry
	empty  bool
}

// Empty says the chain has no entries.
func (t *Tail) Empty() bool { return t.empty }

// At returns the i-th newest entry (0 is the newest); ok is false when the
// chain has fewer entries (or they were swept).
func (t *Tail) At(i int) (e Entry, ok bool, err error) {
	if t.empty || i < 0 || int64(i) >= t.newest.Seq {
		return Entry{}, false, nil
	}
	if i == 0 {
		return t.newest, true, nil
	}
	if i-1 < len(t.newest.Recent) {
		r := t.newest.Recent[i-1]
		return Entry{ID: entryID(t.key, t.newest.Seq-int64(i)), Key: t.key, Seq: t.newest.Seq - int64(i), Kind: r.Kind, At: r.At}, true, nil
	}
	err = t.l.c.FindOne(t.ctx, bson.M{"_id": entryID(t.key, t.newest.Seq-int64(i))}).Decode(&e)
	if err == mongo.ErrNoDocuments {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, Wrap("ledger read", err)
	}
	return e, true, nil
}

// First returns up to n newest entries, newest first.
func (t *Tail) First(n int) ([]Entry, error) {
	var out []Entry
	for i := range n {
		e, ok, err := t.At(i)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

func entryID(key string, seq int64) string { return fmt.Sprintf("%s#%d", key, seq) }

func ledgerHeadID(key string) string { return key + "#head" }

// head copies a chain's newest entry; it has no "key" field, so nothing
// querying entries matches it, and the sweep removes it with its entry.
type ledgerHead struct {
	ID     string     `bson:"_id"`
	Seq    int64      `bson:"seq"`
	Kind   string     `bson:"kind"`
	At     time.Time  `bson:"at"`
	Recent recentList `bson:"recent,omitempty"`
}

// Tail reads key's chain.
func (l *Ledger) Tail(ctx context.Context, key string) (*Tail, error) { return l.read(ctx, key, true) }

// read reads key's chain from its head; probe also looks for entries the
// head has not caught up with. An append need not: its insert of the next
// number fails if there is one, and it then reads again with the probe.
func (l *Ledger) read(ctx context.Context, key string, probe bool) (*Tail, error) {
	t, err := l.readHead(ctx, key, probe)
	if err == nil && probe {
		// What a probed read found is the chain's end as of now, for the
		// next append to start from (an empty chain as Seq 0).
		l.remember(Entry{Key: key, Seq: t.newest.Seq, Kind: t.newest.Kind, At: t.newest.At, Recent: t.newest.Recent})
	}
	return t, err
}

func (l *Ledger) readHead(ctx context.Context, key string, probe bool) (*Tail, error) {
	t := &Tail{ctx: ctx, l: l, key: key}
	var h ledgerHead
	err := l.heads.FindOne(ctx, bson.M{"_id": ledgerHeadID(key)}).Decode(&h)
	switch {
	case err == nil:
		t.newest = Entry{ID: entryID(key, h.Seq), Key: key, Seq: h.Seq, Kind: h.Kind, At: h.At, Recent: h.Recent}
	case err == mongo.ErrNoDocuments:
		if err := l.scanNewest(ctx, key, t); err != nil {
			return nil, err
		}
		if t.empty {
			return t, nil
		}
	default:
		return nil, Wrap("ledger head", err)
	}
	for probe { // the head may lag a racing writer
		var e Entry
		err := l.c.FindOne(ctx, bson.M{"_id": entryID(key, t.newest.Seq+1)}).Decode(&e)
		if err == mongo.ErrNoDocuments {
			return t, nil
		}
		if err != nil {
			return nil, Wrap("ledger read", err)
		}
		t.newest = e
	}
	return t, nil
}

// scanNewest finds a chain without a head: none at all when its first
// entry is absent too (a new key: the usual case), else one written before
// heads existed, found by a query. Every chain written since has a head
// from its first entry on; a chain swept at its start is older than that.
func (l *Ledger) scanNewest(ctx context.Context, key string, t *Tail) error {
	err := l.c.FindOne(ctx, bson.M{"_id": entryID(key, 1)}).Err()
	if err == mongo.ErrNoDocuments {
		t.empty = true
		return nil
	}
	if err != nil {
		return Wrap("ledger read", err)
	}
	return wrapNil("ledger scan", l.c.FindOne(ctx, bson.M{"key": key}, options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}})).Decode(&t.newest))
}

func wrapNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return Wrap(op, err)
}

// Append reads key's chain, asks decide for the kind of entry to add (or
// an error to refuse), and appends it. Losing a race re-reads and decides
// again on the new tail.
func (l *Ledger) Append(ctx context.Context, key string, decide func(tail *Tail, now time.Time) (string, error)) (Entry, error) {
	out, err := l.AppendAll(ctx, Appending{Key: key, Decide: decide})
	if err != nil {
		return Entry{}, err
	}
	return out[0], nil
}

// Appending is one entry for AppendAll to add to the chain of Key: Decide
// picks its kind from the chain's tail, or refuses with an error.
type Appending struct {
	Key    string
	Decide func(tail *Tail, now time.Time) (string, error)
}

// AppendAll appends one entry to each of several chains (of distinct
// keys), each decided on its own chain's tail as Append decides, with one
// insert for all the entries and one write for all their heads while no
// chain is raced: a request that counts towards several limits pays for
// one. The first refusal is returned as it comes, with the entries stored
// in an earlier round (when another chain lost a race and was decided
// again): out[i].Seq is 0 for each one not stored.
func (l *Ledger) AppendAll(ctx context.Context, as ...Appending) ([]Entry, error) {
	out, err := l.appendAll(ctx, as)
	keys := make([]string, 0, len(out))
	for _, e := range out {
		if e.Seq > 0 {
			keys = append(keys, e.Key)
		}
	}
	l.MoveHeads(ctx, keys...)
	return out, err
}

// AppendAllHeadsLater is AppendAll leaving the heads for MoveHeads, so that
// the heads of entries appended one after the other move in one write. A
// reader meanwhile finds them by its probe.
func (l *Ledger) AppendAllHeadsLater(ctx context.Context, as ...Appending) ([]Entry, error) {
	return l.appendAll(ctx, as)
}

func (l *Ledger) appendAll(ctx context.Context, as []Appending) ([]Entry, error) {
	keys := make([]string, len(as))
	for i, a := range as {
		keys[i] = a.Key
	}
	defer l.local.lockAll(keys...)()
	out := make([]Entry, len(as))
	done := make([]bool, len(as))
	sure := make([]bool, len(as)) // whether to read the tail with the probe
	for range 64 {
		var pending []int
		now := l.now().UTC()
		for i, a := range as {
			if done[i] {
				continue
			}
			var tail *Tail
			if sure[i] {
				var err error
				if tail, err = l.read(ctx, a.Key, true); err != nil {
					return stored(out, done), err
				}
			} else {
				// Optimistic: the end this process last saw, or none. If the
				// chain is longer, the insert below collides (inserts are
				// checked by the store's unique index, while every lookup is
				// a scan on FerretDB), and the next round reads it all.
				tail = l.recalled(ctx, a.Key)
			}
			kind, err := a.Decide(tail, now)
			if err != nil {
				return stored(out, done), err
			}
			out[i] = tail.next(kind, now)
			pending = append(pending, i)
		}
		lost := map[int]bool{}
		// A new chain claims its head first: a chain that exists has one
		// (the sweep removes a head only with the whole chain), so this
		// fails for an old chain whose first entries were swept.
		var claims []int
		var heads []any
		for _, i := range pending {
			if e := out[i]; e.Seq == 1 {
				claims = append(claims, i)
				heads = append(heads, ledgerHead{ID: ledgerHeadID(e.Key), Seq: 1, Kind: e.Kind, At: e.At})
			}
		}
		if err := insertEach(ctx, l.heads, heads, func(j int) { lost[claims[j]] = true }); err != nil {
			return stored(out, done), Wrap("ledger append", err)
		}
		var inserting []int
		var entries []any
		for _, i := range pending {
			if !lost[i] {
				inserting = append(inserting, i)
				entries = append(entries, out[i])
			}
		}
		if err := insertEach(ctx, l.c, entries, func(j int) { lost[inserting[j]] = true }); err != nil {
			return stored(out, done), Wrap("ledger append", err)
		}
		left := false
		for _, i := range pending {
			if lost[i] {
				sure[i], left = true, true // someone else appended: read it all
				continue
			}
			done[i] = true
			l.remember(out[i])
		}
		if !left {
			return out, nil
		}
	}
	return stored(out, done), Wrap("ledger append", fmt.Errorf("%s: too much contention", strings.Join(keys, ", ")))
}

// stored keeps the entries stored and zeroes the others.
func stored(out []Entry, done []bool) []Entry {
	for i := range out {
		if !done[i] {
			out[i] = Entry{}
		}
	}
	return out
}

// next is the entry that follows the tail.
func (t *Tail) next(kind string, now time.Time) Entry {
	e := Entry{Key: t.key, Seq: 1, Kind: kind, At: now}
	if !t.empty {
		prev := t.newest
		e.Seq = prev.Seq + 1
		e.Recent = append(recentList{{Kind: prev.Kind, At: prev.At}}, prev.Recent[:min(len(prev.Recent), RecentEntries-2)]...)
	}
	e.ID = entryID(t.key, e.Seq)
	return e
}

// insertEach inserts docs in one unordered command and calls taken with
// the index of each whose _id another writer holds; any other failure is
// returned.
func insertEach(ctx context.Context, c *mongo.Collection, docs []any, taken func(int)) error {
	if len(docs) == 0 {
		return nil
	}
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil
	}
	var bulk mongo.BulkWriteException
	if !errors.As(err, &bulk) || bulk.WriteConcernError != nil || len(bulk.WriteErrors) == 0 {
		if len(docs) == 1 && IsDuplicate(err) {
			taken(0)
			return nil
		}
		return err
	}
	for _, we := range bulk.WriteErrors {
		if we.Code != 11000 && !IsDuplicate(we) {
			return err
		}
	}
	for _, we := range bulk.WriteErrors {
		taken(we.Index)
	}
	return nil
}

// Recalled is key's tail as this process last wrote or read it, with no
// store operation unless it has not yet: possibly behind another
// process's appends, so good for refusing early, while the decision that
// counts is the one an append takes on the tail its insert proves current.
func (l *Ledger) Recalled(ctx context.Context, key string) (*Tail, error) {
	if e, ok := l.recall(key); ok {
		return l.tailOf(ctx, key, e), nil
	}
	return l.read(ctx, key, true)
}

// recalled is the tail this process last saw, or an empty one.
func (l *Ledger) recalled(ctx context.Context, key string) *Tail {
	if e, ok := l.recall(key); ok {
		return l.tailOf(ctx, key, e)
	}
	return &Tail{ctx: ctx, l: l, key: key, empty: true}
}

func (l *Ledger) tailOf(ctx context.Context, key string, e Entry) *Tail {
	if e.Seq == 0 {
		return &Tail{ctx: ctx, l: l, key: key, empty: true}
	}
	return &Tail{ctx: ctx, l: l, key: key, newest: e}
}

func (l *Ledger) recall(key string) (Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.known[key]
	return e, ok
}

func (l *Ledger) remember(e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.known) >= maxKnown {
		l.known = map[string]Entry{}
	}
	if cur, ok := l.known[e.Key]; !ok || cur.Seq < e.Seq {
		l.known[e.Key] = e
	}
}

// MoveHeads moves the head of each key's chain to the newest entry this
// process appended or read there (a chain at its first entry claimed its
// head already), in one command. Each filter is the _id alone, the one
// FerretDB v1 pushes down into SQLite (a condition on any other field
// makes it decode the whole collection); a racing writer may so set a head
// back a step, which costs a reader one probe.
func (l *Ledger) MoveHeads(ctx context.Context, keys ...string) {
	var models []mongo.WriteModel
	seen := map[string]bool{}
	for _, k := range keys {
		e, ok := l.recall(k)
		if seen[k] || !ok || e.Seq <= 1 {
			continue
		}
		seen[k] = true
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": ledgerHeadID(e.Key)}).
			SetUpdate(bson.M{"$set": bson.M{"seq": e.Seq, "kind": e.Kind, "at": e.At, "recent": e.Recent}}).SetUpsert(true))
	}
	if len(models) > 0 {
		_, _ = l.heads.BulkWrite(context.WithoutCancel(ctx), models, options.BulkWrite().SetOrdered(false))
	}
}

// Sweep deletes entries (and heads) older than age. A chain's numbering
// survives: what remains is newer, so it still holds the highest sequence
// number, and a chain swept whole starts again from 1.
func (l *Ledger) Sweep(ctx context.Context, age time.Duration) (int64, error) {
	res, err := l.c.DeleteMany(ctx, bson.M{"at": bson.M{"$lt": l.now().Add(-age)}})
	if err != nil {
		return 0, Wrap("ledger sweep", err)
	}
	if _, err := l.heads.DeleteMany(ctx, bson.M{"at": bson.M{"$lt": l.now().Add(-age)}}); err != nil {
		return 0, Wrap("ledger sweep", err)
	}
	l.mu.Lock()
	l.known = map[string]Entry{} // a remembered end may be gone
	l.mu.Unlock()
	return res.DeletedCount, nil
}

// Erase deletes every chain whose key matches the regular expression
// pattern, entries and heads: an account's erasure removes the counters
// named after its addresses and devices. A chain erased whole starts again
// from 1, as after Sweep. It scans the collection, which only a purge does.
func (l *Ledger) Erase(ctx context.Context, pattern string) (int64, error) {
	// The heads of the chains found, whatever the pattern makes of their
	// "#head" suffix, and any other head it matches.
	cur, err := l.c.Find(ctx, bson.M{"key": bson.M{"$regex": pattern}}, options.Find().SetProjection(bson.M{"key": 1}))
	if err != nil {
		return 0, Wrap("ledger erase", err)
	}
	var found []struct {
		Key string `bson:"key"`
	}
	if err := cur.All(ctx, &found); err != nil {
		return 0, Wrap("ledger erase", err)
	}
	heads, seen := bson.A{}, map[string]bool{}
	for _, f := range found {
		if !seen[f.Key] {
			seen[f.Key] = true
			heads = append(heads, ledgerHeadID(f.Key))
		}
	}
	res, err := l.c.DeleteMany(ctx, bson.M{"key": bson.M{"$regex": pattern}})
	if err != nil {
		return 0, Wrap("ledger erase", err)
	}
	if _, err := l.heads.DeleteMany(ctx, bson.M{"$or": bson.A{bson.M{"_id": bson.M{"$in": heads}}, bson.M{"_id": bson.M{"$regex": pattern}}}}); err != nil {
		return 0, Wrap("ledger erase", err)
	}
	l.mu.Lock()
	l.known = map[string]Entry{}
	l.mu.Unlock()
	return res.DeletedCount, nil
}
