package gateway

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// encoding/json reads a body more leniently than the app or any other
// reader would: it replaces invalid UTF-8 with U+FFFD, takes the last of
// two members with one name, and matches member names without regard to
// case, so {"email":A,"EMAIL":B} decodes as B. checkJSON is a pass over
// the bytes, before encoding/json sees them, that leaves one reading of a
// body: invalid UTF-8 (raw, or a lone surrogate escape) and a member name
// repeated in one object are a 400, and a member whose name matches a
// field of the target only by folding case is made unknown (its name is
// overwritten in place), so it is ignored like any other unknown member.
// It allocates nothing unless a name is escaped or must be overwritten.
func checkJSON(body []byte, target reflect.Type) error {
	if !utf8.Valid(body) {
		return badRequest{"The request body must be valid UTF-8."}
	}
	s := jsonScan{b: body}
	s.value(target, 0)
	if s.err != nil {
		return s.err
	}
	// A syntax error stops the scan where it is; encoding/json reports it.
	for _, span := range s.blank {
		for i := span[0]; i < span[1]; i++ {
			body[i] = '_'
		}
	}
	return nil
}

// maxJSONDepth is deeper than any request nests (two levels today).
const maxJSONDepth = 64

type jsonScan struct {
	b     []byte
	i     int
	err   error
	blank [][2]int // raw member names to overwrite
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value that decodes into t (nil: no struct to match
// names against); false stops the scan (a syntax error, or s.err).
func (s *jsonScan) value(t reflect.Type, depth int) bool {
	if depth > maxJSONDepth {
		s.err = badRequest{"The request body is nested too deeply."}
		return false
	}
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '{':
		return s.object(t, depth+1)
	case '[':
		s.i++
		elem := elemType(t)
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for {
			if !s.value(elem, depth+1) {
				return false
			}
			if more, ok := s.separator(']'); !more {
				return ok
			}
		}
	case '"':
		_, _, ok := s.str()
		return ok
	}
	for s.i < len(s.b) && !strings.ContainsRune(" \t\r\n,]}:", rune(s.b[s.i])) {
		s.i++
	}
	return true
}

func (s *jsonScan) object(t reflect.Type, depth int) bool {
	s.i++
	fields := fieldsOf(t)
	var seenArr [16][]byte
	seen := seenArr[:0]
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		start := s.i
		raw, escaped, ok := s.str()
		if !ok {
			return false
		}
		name := raw
		if escaped {
			var v string
			if json.Unmarshal(s.b[start:s.i], &v) != nil {
				return false
			}
			name = []byte(v)
		}
		for _, k := range seen {
			if bytes.Equal(k, name) {
				s.err = badRequest{"The request body repeats the member " + strconv.Quote(string(name)) + "."}
				return false
			}
		}
		seen = append(seen, name)
		ft, exact, folded := fields.match(name)
		if folded && !exact {
			s.blank = append(s.blank, [2]int{start + 1, s.i - 1})
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		if !s.value(ft, depth) {
			return false
		}
		if more, ok := s.separator('}'); !more {
			return ok
		}
	}
}

// separator scans what follows an element or member: a comma (more), the
// closing bracket (not more, ok), or a syntax error (neither).
func (s *jsonScan) separator(closing byte) (more, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return false, false
	}
	s.i++
	switch s.b[s.i-1] {
	case ',':
		return true, true
	case closing:
		return false, true
	}
	return false, false
}

// str scans a string at s.i and returns its raw content; a lone surrogate
// escape (which encoding/json turns into U+FFFD) is invalid UTF-8 too.
func (s *jsonScan) str() (raw []byte, escaped, ok bool) {
	s.i++
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			s.i++
			return s.b[start : s.i-1], escaped, true
		case '\\':
			escaped = true
			if s.i+1 < len(s.b) && s.b[s.i+1] == 'u' {
				r, ok := hex4(s.b, s.i+2)
				if !ok {
					return nil, false, false
				}
				s.i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(0), false
					if r < 0xdc00 && s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
						r2, ok = hex4(s.b, s.i+2)
					}
					if !ok || utf16.DecodeRune(r, r2) == utf8.RuneError {
						s.err = badRequest{"The request body must be valid UTF-8."}
						return nil, false, false
					}
					s.i += 6
				}
				continue
			}
			s.i += 2
		default:
			s.i++
		}
	}
	return nil, false, false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// elemType is what the elements of a JSON array decode into.
func elemType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		return t.Elem()
	}
	return nil
}

type jsonField struct {
	name string
	typ  reflect.Type
}

type jsonFields []jsonField

// match finds name among the fields: its type, whether a field has exactly
// that name, and whether one has it only up to case (encoding/json's
// folding is Unicode simple folding, as strings.EqualFold's).
func (fs jsonFields) match(name []byte) (t reflect.Type, exact, folded bool) {
	for _, f := range fs {
		if string(name) == f.name {
			return f.typ, true, true
		}
	}
	for _, f := range fs {
		if strings.EqualFold(string(name), f.name) {
			return nil, false, true
		}
	}
	return nil, false, false
}

var fieldCache sync.Map // reflect.Type → jsonFields

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// fieldsOf lists the JSON members of a struct type (nil for anything
// else, or a type that reads itself).
func fieldsOf(t reflect.Type) jsonFields {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(jsonFields)
	}
	var fs jsonFields
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			continue // its fields are visible in their own right
		}
		if name == "" {
			name = f.Name
		}
		fs = append(fs, jsonField{name: name, typ: f.Type})
	}
	fieldCache.Store(t, fs)
	return fs
}
