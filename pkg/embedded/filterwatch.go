package embedded

import (
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FilterWatch stands between the services and the embedded store and
// notes the filter of every command that reads or writes by one (find,
// count, distinct, aggregate's first $match, update, delete,
// findAndModify). On FerretDB v1 a filter on anything but _id scans the
// whole collection, so a test can hold the request paths to _id lookups
// by reading what went over the wire, whichever service or code path sent
// it. It passes every byte on unchanged.
type FilterWatch struct {
	URI    string // mongodb://host:port/ of the watch: give it to the services
	ln     net.Listener
	target string

	mu      sync.Mutex
	filters []Filter
	ops     map[string]int // store operations (every command but connectionCommands), by "command collection"
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

// Filter is one filter the watch saw.
type Filter struct {
	Command    string   // find, update, delete, ...
	Collection string   // the collection it ran on
	Fields     []string // the fields it filters on, sorted; $and/$or are looked into
	// ByID: the filter is {_id: <string or ObjectID>} and nothing else,
	// the one shape FerretDB v1's SQLite backend answers from its _id
	// index (backends/sqlite's Query: a filter of one field, _id, of one
	// of those types). Anything else, $in on _id or a second condition
	// beside it included, reads the whole table.
	ByID bool
}

// Lookup: one index lookup on FerretDB v1; anything else is a scan.
func (f Filter) Lookup() bool { return f.ByID }

func (f Filter) String() string {
	return f.Command + " " + f.Collection + " {" + strings.Join(f.Fields, ", ") + "}"
}

// WatchFilters listens on a free local port and forwards to the store at
// uri (a mongodb://host:port/ URI, as Mongo.URI).
func WatchFilters(uri string) (*FilterWatch, error) {
	target := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	if i := strings.IndexAny(target, "/?"); i >= 0 {
		target = target[:i]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &FilterWatch{URI: "mongodb://" + ln.Addr().String() + "/", ln: ln, target: target, conns: map[net.Conn]bool{}}
	w.wg.Add(1)
	go w.accept()
	return w, nil
}

// Filters returns what was seen since the last Reset.
func (w *FilterWatch) Filters() []Filter {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.filters)
}

// Operations is how many store operations went through since the last
// Reset: every command (a find, an insert, a getMore, ...) but the ones a
// driver keeps its connections with.
func (w *FilterWatch) Operations() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.ops {
		n += c
	}
	return n
}

// OperationsBy is Operations by "command collection" ("insert
// auth_sessions").
func (w *FilterWatch) OperationsBy() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.ops)
}

// Reset forgets what was seen so far.
func (w *FilterWatch) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.filters, w.ops = nil, nil
}

// Close stops listening and cuts every connection through the watch.
func (w *FilterWatch) Close() {
	_ = w.ln.Close()
	w.mu.Lock()
	for c := range w.conns {
		_ = c.Close()
	}
	w.conns = nil // a connection accepted meanwhile is refused (track)
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *FilterWatch) track(c net.Conn, on bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if on && w.conns == nil {
		return false
	}
	if on {
		w.conns[c] = true
	} else {
		delete(w.conns, c)
	}
	return true
}

func (w *FilterWatch) accept() {
	defer w.wg.Done()
	for {
		client, err := w.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", w.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !w.track(client, true) || !w.track(server, true) {
			_ = client.Close()
			_ = server.Close()
			return
		}
		w.wg.Add(2)
		go func() {
			defer w.wg.Done()
			_, _ = io.Copy(client, server)
			_ = client.Close()
		}()
		go func() {
			defer w.wg.Done()
			w.forward(client, server)
			_ = server.Close()
			w.track(client, false)
			w.track(server, false)
		}()
	}
}

// forward passes the client's messages on one whole message at a time,
// reading each one's command on the way.
func (w *FilterWatch) forward(client, server net.Conn) {
	header := make([]byte, 16)
	for {
		if _, err := io.ReadFull(client, header); err != nil {
			return
		}
		size := int(binary.LittleEndian.Uint32(header))
		if size < 16 || size > 64<<20 {
			return
		}
		msg := make([]byte, size)
		copy(msg, header)
		if _, err := io.ReadFull(client, msg[16:]); err != nil {
			return
		}
		// Recorded before it goes on, so no answer reaches the client
		// ahead of its record (a test reading the filters right after a
		// call missed the call's last command).
		if binary.LittleEndian.Uint32(header[12:]) == opMsg {
			if name, coll, fs, err := commandFilters(msg[16:]); err == nil {
				w.mu.Lock()
				w.filters = append(w.filters, fs...)
				if !slices.Contains(connectionCommands, name) {
					if w.ops == nil {
						w.ops = map[string]int{}
					}
					w.ops[name+" "+coll]++
				}
				w.mu.Unlock()
			}
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

const opMsg = 2013

// connectionCommands are what a driver sends to keep its connections
// (handshake, monitoring, auth, sessions), not store operations.
var connectionCommands = []string{"hello", "isMaster", "ismaster", "ping", "buildInfo", "buildinfo", "saslStart",
	"saslContinue", "endSessions", "getParameter"}

// commandFilters reads an OP_MSG body (flags, then sections) and returns
// the command's name, its collection and the filters it carries.
func commandFilters(body []byte) (string, string, []Filter, error) {
	if len(body) < 5 {
		return "", "", nil, errShort
	}
	flags := binary.LittleEndian.Uint32(body)
	body = body[4:]
	if flags&1 != 0 { // a checksum trails the sections
		if len(body) < 4 {
			return "", "", nil, errShort
		}
		body = body[:len(body)-4]
	}
	var cmd bson.Raw
	sequences := map[string][]bson.Raw{}
	for len(body) > 0 {
		kind := body[0]
		body = body[1:]
		switch kind {
		case 0:
			doc, rest, err := nextDocument(body)
			if err != nil {
				return "", "", nil, err
			}
			cmd, body = doc, rest
		case 1:
			if len(body) < 4 {
				return "", "", nil, errShort
			}
			size := int(binary.LittleEndian.Uint32(body))
			if size < 4 || size > len(body) {
				return "", "", nil, errShort
			}
			section := body[4:size]
			body = body[size:]
			end := slices.Index(section, 0)
			if end < 0 {
				return "", "", nil, errShort
			}
			id, docs := string(section[:end]), section[end+1:]
			for len(docs) > 0 {
				doc, rest, err := nextDocument(docs)
				if err != nil {
					return "", "", nil, err
				}
				sequences[id] = append(sequences[id], doc)
				docs = rest
			}
		default:
			return "", "", nil, errors.New("filterwatch: unknown section kind")
		}
	}
	if cmd == nil {
		return "", "", nil, errShort
	}
	elems, err := cmd.Elements()
	if err != nil || len(elems) == 0 {
		return "", "", nil, err
	}
	name := elems[0].Key()
	coll, _ := elems[0].Value().StringValueOK()
	one := func(filter bson.RawValue) []Filter {
		fields, byID := filterFields(filter)
		return []Filter{{Command: name, Collection: coll, Fields: fields, ByID: byID}}
	}
	many := func(field, key string) []Filter {
		docs := sequences[field]
		if arr, ok := cmd.Lookup(field).ArrayOK(); ok {
			vals, _ := arr.Values()
			for _, v := range vals {
				if d, ok := v.DocumentOK(); ok {
					docs = append(docs, d)
				}
			}
		}
		var out []Filter
		for _, d := range docs {
			fields, byID := filterFields(d.Lookup(key))
			out = append(out, Filter{Command: name, Collection: coll, Fields: fields, ByID: byID})
		}
		return out
	}
	switch name {
	case "find":
		return name, coll, one(cmd.Lookup("filter")), nil
	case "count", "distinct", "findAndModify", "findandmodify":
		return name, coll, one(cmd.Lookup("query")), nil
	case "update":
		return name, coll, many("updates", "q"), nil
	case "delete":
		return name, coll, many("deletes", "q"), nil
	case "aggregate":
		var match bson.RawValue
		if arr, ok := cmd.Lookup("pipeline").ArrayOK(); ok {
			if first, err := arr.IndexErr(0); err == nil {
				if stage, ok := first.DocumentOK(); ok {
					match = stage.Lookup("$match")
				}
			}
		}
		return name, coll, one(match), nil
	}
	return name, coll, nil, nil
}

var errShort = errors.New("filterwatch: short message")

func nextDocument(b []byte) (bson.Raw, []byte, error) {
	if len(b) < 5 {
		return nil, nil, errShort
	}
	size := int(binary.LittleEndian.Uint32(b))
	if size < 5 || size > len(b) {
		return nil, nil, errShort
	}
	return bson.Raw(b[:size]), b[size:], nil
}

// filterFields lists the fields a filter names, looking into $and, $or
// and $nor, and says whether it is the one shape FerretDB v1 pushes down
// (see Filter.ByID). An empty or absent filter names none: it matches
// everything.
func filterFields(v bson.RawValue) ([]string, bool) {
	doc, ok := v.DocumentOK()
	if !ok {
		return nil, false
	}
	seen := map[string]bool{}
	var walk func(d bson.Raw)
	walk = func(d bson.Raw) {
		elems, _ := d.Elements()
		for _, e := range elems {
			switch e.Key() {
			case "$and", "$or", "$nor":
				if arr, ok := e.Value().ArrayOK(); ok {
					vals, _ := arr.Values()
					for _, v := range vals {
						if sub, ok := v.DocumentOK(); ok {
							walk(sub)
						}
					}
				}
			default:
				seen[e.Key()] = true
			}
		}
	}
	walk(doc)
	fields := make([]string, 0, len(seen))
	for f := range seen {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	return fields, Indexed(doc)
}

// Indexed: filter is the one shape FerretDB v1's SQLite backend answers
// from its _id index, {_id: <string or ObjectID>} and nothing else; any
// other filter reads the whole table (see Filter.ByID).
func Indexed(filter bson.Raw) bool {
	elems, err := filter.Elements()
	if err != nil || len(elems) != 1 || elems[0].Key() != "_id" {
		return false
	}
	t := elems[0].Value().Type
	return t == bson.TypeString || t == bson.TypeObjectID
}
