package natsx

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/dossapp/backend/pkg/contract"
)

// A reply says more than its body in headers its caller may act on: how
// long the answer may be kept (CacheFor) and whose profiles or documents
// the command changed (ProfileChanged, DocumentsChanged). A handler sets them through its context, on
// whatever reply it ends with, an error's too; a caller hears them through
// its own (OnReply). A change made by a call a handler made is a change
// the handler made, so a call passes those on from its reply to the reply
// of the request being served.

// replyHeaders are the headers of one request's reply, set while its
// handler runs (from goroutines of its own too).
type replyHeaders struct {
	mu sync.Mutex
	h  nats.Header
}

type replyHeadersKey struct{}

// withReplyHeaders gives the request served under ctx headers for its
// reply (serve).
func withReplyHeaders(ctx context.Context) context.Context {
	return context.WithValue(ctx, replyHeadersKey{}, &replyHeaders{})
}

// setReplyHeader sets k on the reply of the request served under ctx
// (none outside a handler: then nothing happens); with add, v joins the
// values k has instead of replacing them.
func setReplyHeader(ctx context.Context, k, v string, add bool) {
	r, _ := ctx.Value(replyHeadersKey{}).(*replyHeaders)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil {
		r.h = nats.Header{}
	}
	switch {
	case !add:
		r.h.Set(k, v)
	case !slices.Contains(r.h.Values(k), v):
		r.h.Add(k, v)
	}
}

// replyOptions send the headers set under ctx with its reply.
func replyOptions(ctx context.Context) []micro.RespondOpt {
	r, _ := ctx.Value(replyHeadersKey{}).(*replyHeaders)
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.h) == 0 {
		return nil
	}
	h := micro.Headers{}
	for k, v := range r.h {
		h[k] = slices.Clone(v)
	}
	return []micro.RespondOpt{micro.WithHeaders(h)}
}

// CacheFor says the answer to the request served under ctx may be kept
// for d (whole seconds; less than one: not at all).
func CacheFor(ctx context.Context, d time.Duration) {
	setReplyHeader(ctx, contract.HeaderCacheMaxAge, strconv.FormatInt(max(0, int64(d/time.Second)), 10), false)
}

// ProfileChanged says the request served under ctx changed the user's
// profile. Say it once the change is stored, whatever the handler then
// answers: a failure after the write must drop the caller's copy too.
func ProfileChanged(ctx context.Context, userID int64) {
	setReplyHeader(ctx, contract.HeaderProfileChanged, strconv.FormatInt(userID, 10), true)
}

// DocumentsChanged is ProfileChanged for the user's documents.
func DocumentsChanged(ctx context.Context, userID int64) {
	setReplyHeader(ctx, contract.HeaderDocumentsChanged, strconv.FormatInt(userID, 10), true)
}

// changeHeaders are the headers naming changed users, passed on from a
// call's reply to the reply of the request being served.
var changeHeaders = []string{contract.HeaderProfileChanged, contract.HeaderDocumentsChanged}

type onReplyKey struct{}

// OnReply has fn hear the headers of the reply to every call made under
// the returned context, an error's too, after the fns of the contexts it
// was made from.
func OnReply(ctx context.Context, fn func(nats.Header)) context.Context {
	outer, _ := ctx.Value(onReplyKey{}).([]func(nats.Header))
	return context.WithValue(ctx, onReplyKey{}, append(slices.Clip(outer), fn))
}

// heard is what a call does with the headers of its reply: it passes the
// changed profiles on to the request being served, if any, and hands them
// to the OnReply fns.
func heard(ctx context.Context, h nats.Header) {
	for _, k := range changeHeaders {
		for _, v := range h.Values(k) {
			setReplyHeader(ctx, k, v, true)
		}
	}
	fns, _ := ctx.Value(onReplyKey{}).([]func(nats.Header))
	for _, fn := range fns {
		fn(h)
	}
}

// ChangedProfiles are the users whose profiles a reply says its command
// changed.
func ChangedProfiles(h nats.Header) []int64 { return ChangedUsers(h, contract.HeaderProfileChanged) }

// ChangedUsers are the users a reply's header (HeaderProfileChanged,
// HeaderDocumentsChanged) says its command changed.
func ChangedUsers(h nats.Header, header string) []int64 {
	var out []int64
	for _, v := range h.Values(header) {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil && id != 0 {
			out = append(out, id)
		}
	}
	return out
}

// maxAgeSecs bounds a max-age, far beyond any cache's own, so that it fits
// a time.Duration.
const maxAgeSecs = 1 << 31

// CacheMaxAge is how long a reply says its answer may be kept: 0 when it
// says nothing, or nothing readable.
func CacheMaxAge(h nats.Header) time.Duration {
	secs, err := strconv.ParseInt(h.Get(contract.HeaderCacheMaxAge), 10, 64)
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(min(secs, maxAgeSecs)) * time.Second
}
