// Package app holds the documents service's commands and queries. A
// user's documents are one set (Documents) changed as a whole with the
// events each change announces, so two uploads of one type cannot both
// become current, and a change and its "delete this object" request
// cannot diverge. The stores it needs are declared in stores.go.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/blob"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/imagex"
	"github.com/dossapp/backend/pkg/logx"
	"github.com/dossapp/backend/pkg/natsx"
)

// Doc is one stored document.
type Doc struct {
	ID         int64  `bson:"id"`
	TypeID     int    `bson:"type_id"`
	Status     string `bson:"status"`
	Reason     string `bson:"reason,omitempty"`
	ReviewedBy string `bson:"reviewed_by,omitempty"`
	// ReviewedAs is the profile its approver compared it with.
	ReviewedAs *contract.ReviewedIdentity `bson:"reviewed_as,omitempty"`
	Key        string                     `bson:"key"`
	Size       int64                      `bson:"size"`
	CreatedAt  time.Time                  `bson:"created_at"`
	UpdatedAt  time.Time                  `bson:"updated_at"`
}

// Docs is a user's current documents, at most one per type.
type Docs struct {
	UserID int64 `bson:"user_id"`
	Items  []Doc `bson:"items"`
}

// Files is the private bucket (pkg/blob in production).
type Files interface {
	Put(ctx context.Context, key string, data []byte, contentType string) error
	Get(ctx context.Context, key string, max int64) ([]byte, error)
	Stat(ctx context.Context, key string) (blob.Info, error)
	Delete(ctx context.Context, key string) error
	GetURL(ctx context.Context, key string, ttl time.Duration) (string, error)
	// PutURL presigns a PUT of exactly size bytes.
	PutURL(ctx context.Context, key string, ttl time.Duration, size int64) (string, error)
}

// Limits bound what one account may do.
type Limits struct {
	MaxBytes      int64         // largest upload (413 above)
	MaxPerAccount int           // stored documents per account
	LinkTTL       time.Duration // life of a document's file link (≤ 15 min)
	UploadTTL     time.Duration // life of a presigned PUT (≤ 15 min)
	// UploadLinksPerHour bounds the presigned PUTs one user is given:
	// each may fill the bucket with MaxBytes until the sweep (0: none).
	UploadLinksPerHour int
}

// Counters count hits per key in a sliding window.
type Counters interface {
	// Hit takes one of key's limit hits in window, or says how long until
	// one is free (nothing taken then).
	Hit(ctx context.Context, key string, limit int, window time.Duration) (time.Duration, error)
}

// Service is the documents service's core.
type Service struct {
	Docs  Documents
	Queue ReviewQueue
	IDs   IDs
	Files Files
	// Uploads reads and deletes an upload the gateway streamed into the
	// JetStream object store.
	Uploads func(ctx context.Context, name string, max int64) ([]byte, error)
	// Profile tells the profile service the user's new documents at once.
	Profile func(ctx context.Context, snap contract.DocumentsSnapshot) error
	// Accounts reads an account from auth (for the review notice).
	Accounts func(ctx context.Context, userID int64) (contract.Account, error)
	Limits   Limits
	// Counters counts the upload links each user is given.
	Counters Counters
	Now      func() time.Time
	// EraseObjects deletes every object under a prefix (an account's purge).
	EraseObjects func(ctx context.Context, prefix string) error

	links linkCache
}

func key(userID int64) string { return strconv.FormatInt(userID, 10) }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// IncomingRoot holds every presigned upload until it is claimed (copied to
// documents/ and deleted) or swept as unclaimed. Nothing else may live
// there: the sweep deletes whatever is old under it, and profile, which
// may share the bucket, keeps its photos under profiles/.
const IncomingRoot = "incoming/"

// incomingPrefix is where a user's presigned uploads land; the key is bound
// to the user by it and unguessable by its random part.
func incomingPrefix(userID int64) string { return IncomingRoot + key(userID) + "/" }

// documentPrefix holds the user's stored documents.
func documentPrefix(userID int64) string { return "documents/" + key(userID) + "/" }

// Types lists the document types.
func (s *Service) Types(context.Context) ([]contract.DocumentType, error) {
	return contract.DocumentTypes, nil
}

// UploadURL gives the caller a presigned PUT for one file.
func (s *Service) UploadURL(ctx context.Context, userID int64, req contract.UploadURLRequest) (contract.UploadURLReply, error) {
	if req.Size <= 0 {
		return contract.UploadURLReply{}, contract.FieldError("size", "The size field is required: the file's length in bytes.")
	}
	if req.Size > s.Limits.MaxBytes {
		return contract.UploadURLReply{}, &contract.Error{Code: contract.TooLarge, Message: "The file is too large.",
			Fields: map[string][]string{"size": {"The file may be at most " + strconv.FormatInt(s.Limits.MaxBytes, 10) + " bytes."}}}
	}
	if s.Counters != nil && s.Limits.UploadLinksPerHour > 0 {
		wait, err := s.Counters.Hit(ctx, "upload-link:"+strconv.FormatInt(userID, 10), s.Limits.UploadLinksPerHour, time.Hour)
		if err != nil {
			return contract.UploadURLReply{}, err
		}
		if wait > 0 {
			return contract.UploadURLReply{}, contract.RateLimitedWait(wait, "Too many upload links this hour. Please try again later.")
		}
	}
	k := incomingPrefix(userID) + randomHex()
	u, err := s.Files.PutURL(ctx, k, s.Limits.UploadTTL, req.Size)
	if err != nil {
		return contract.UploadURLReply{}, err
	}
	return contract.UploadURLReply{UploadURL: u, File: k, ExpiresAt: s.now().Add(s.Limits.UploadTTL)}, nil
}

// Add stores a new document of req.TypeID, replacing the current one of
// that type.
func (s *Service) Add(ctx context.Context, userID int64, req contract.AddDocumentRequest) (contract.Document, error) {
	t, ok := contract.DocumentTypeByID(req.TypeID)
	if !ok {
		return contract.Document{}, contract.FieldError("typeId", "The selected document type is invalid.")
	}
	data, incoming, err := s.source(ctx, userID, req)
	if err != nil {
		return contract.Document{}, err
	}
	img, err := imagex.Normalize(ctx, data, "file")
	if err != nil {
		s.dropIncoming(ctx, incoming)
		return contract.Document{}, err
	}
	id, err := s.IDs.Next(ctx)
	if err != nil {
		return contract.Document{}, err
	}
	now := s.now()
	doc := Doc{ID: id, TypeID: t.ID, Status: contract.DocumentPending, Key: documentPrefix(userID) + randomHex() + ".jpg",
		Size: int64(len(img)), CreatedAt: now, UpdatedAt: now}
	if err := s.Files.Put(ctx, doc.Key, img, imagex.ContentType); err != nil {
		return contract.Document{}, err
	}
	if err := s.Queue.Add(ctx, doc.ID, userID); err != nil {
		_ = s.Files.Delete(context.WithoutCancel(ctx), doc.Key)
		return contract.Document{}, err
	}
	var replaced int64
	refused := false // change said no: nothing was written
	_, err = s.change(ctx, userID, func(d *Docs, version int64) ([]contract.Event, error) {
		var orphans []string
		if incoming != "" {
			orphans = append(orphans, incoming)
		}
		replaced = 0
		kept := d.Items[:0:0]
		for _, it := range d.Items {
			if it.TypeID == doc.TypeID {
				orphans, replaced = append(orphans, it.Key), it.ID
				continue
			}
			kept = append(kept, it)
		}
		if len(kept) >= s.Limits.MaxPerAccount {
			refused = true
			return nil, contract.FieldError("typeId", fmt.Sprintf("At most %d documents can be stored. Delete one first.", s.Limits.MaxPerAccount))
		}
		d.Items = append([]Doc{doc}, kept...)
		evs, err := s.announce(ctx, contract.EventDocumentAdded, doc, *d, version, orphans)
		refused = err != nil
		return evs, err
	})
	if err != nil {
		switch stored, known := s.holds(ctx, userID, doc.ID); {
		case refused || (known && !stored):
			_ = s.Files.Delete(context.WithoutCancel(ctx), doc.Key)
			s.settled(ctx, doc.ID)
		case stored:
			// The write happened and only its answer was lost: the
			// document is there, with its file and its place in the queue.
			return s.document(ctx, doc)
		}
		// Not known either way: the file and the queue mark stay, so a
		// stored document never points at nothing (an unreferenced file
		// costs only storage).
		return contract.Document{}, err
	}
	if replaced != 0 {
		s.settled(ctx, replaced)
	}
	return s.document(ctx, doc)
}

// source returns the uploaded bytes and, for a presigned upload, its key.
func (s *Service) source(ctx context.Context, userID int64, req contract.AddDocumentRequest) ([]byte, string, error) {
	if req.Upload != "" {
		data, err := s.Uploads(ctx, req.Upload, s.Limits.MaxBytes)
		return data, "", err
	}
	if req.File == "" {
		return nil, "", contract.FieldError("file", "The file field is required.")
	}
	rest, ok := strings.CutPrefix(req.File, incomingPrefix(userID))
	if !ok || len(rest) != 32 || strings.Trim(rest, "0123456789abcdef") != "" {
		// Someone else's key looks exactly like one never issued.
		return nil, "", contract.FieldError("file", "The file is not an upload of yours.")
	}
	info, err := s.Files.Stat(ctx, req.File)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, "", contract.FieldError("file", "The file is not an upload of yours.")
	}
	if err != nil {
		return nil, "", err
	}
	if info.Size > s.Limits.MaxBytes {
		s.dropIncoming(ctx, req.File)
		return nil, "", &contract.Error{Code: contract.TooLarge, Message: "The file is too large."}
	}
	data, err := s.Files.Get(ctx, req.File, s.Limits.MaxBytes)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, "", contract.FieldError("file", "The file is not an upload of yours.")
	}
	if contract.ErrorCode(err) == contract.TooLarge {
		s.dropIncoming(ctx, req.File) // grown since Stat
	}
	return data, req.File, err
}

// dropIncoming deletes a refused presigned upload; one left behind by a
// failure here is the caller's own, unreferenced and unguessable.
func (s *Service) dropIncoming(ctx context.Context, k string) {
	if k != "" {
		_ = s.Files.Delete(context.WithoutCancel(ctx), k)
	}
}

// List pages the caller's documents, newest first.
func (s *Service) List(ctx context.Context, userID int64, req contract.ListDocumentsRequest) (contract.DocumentList, error) {
	limit, offset, err := Page(req)
	if err != nil {
		return contract.DocumentList{}, err
	}
	d, err := s.current(ctx, userID)
	if err != nil {
		return contract.DocumentList{}, err
	}
	out := contract.DocumentList{Documents: []contract.Document{}, Total: len(d.Items)}
	for _, it := range window(d.Items, offset, limit) {
		doc, err := s.document(ctx, it)
		if err != nil {
			return contract.DocumentList{}, err
		}
		out.Documents = append(out.Documents, doc)
	}
	// Every link has half its life left (link): the caller may keep the
	// answer for half of that, so a phone always has a quarter to use it.
	natsx.CacheFor(ctx, s.Limits.LinkTTL/4)
	return out, nil
}

// Page validates limit (default 20, 1–100) and offset (default 0, ≥ 0).
func Page(req contract.ListDocumentsRequest) (limit, offset int, err error) {
	limit, offset = 20, 0
	var v contract.Validation
	if req.Limit != nil {
		limit = *req.Limit
		if limit < 1 || limit > 100 {
			v.Add("limit", "The limit must be between 1 and 100.")
		}
	}
	if req.Offset != nil {
		offset = *req.Offset
		if offset < 0 {
			v.Add("offset", "The offset must be at least 0.")
		}
	}
	return limit, offset, v.Err()
}

func window[T any](items []T, offset, limit int) []T {
	if offset >= len(items) {
		return nil
	}
	return items[offset:min(len(items), offset+limit)]
}

// Get returns one of the caller's documents.
func (s *Service) Get(ctx context.Context, userID, id int64) (contract.Document, error) {
	d, err := s.current(ctx, userID)
	if err != nil {
		return contract.Document{}, err
	}
	i := slices.IndexFunc(d.Items, func(it Doc) bool { return it.ID == id })
	if i < 0 {
		return contract.Document{}, contract.DocumentNotFound()
	}
	return s.document(ctx, d.Items[i])
}

// Delete removes one of the caller's documents; its object is deleted by
// the event stored with the change.
func (s *Service) Delete(ctx context.Context, userID, id int64) error {
	_, err := s.change(ctx, userID, func(d *Docs, version int64) ([]contract.Event, error) {
		i := slices.IndexFunc(d.Items, func(it Doc) bool { return it.ID == id })
		if i < 0 {
			return nil, contract.DocumentNotFound()
		}
		gone := d.Items[i]
		d.Items = slices.Delete(slices.Clone(d.Items), i, i+1)
		return s.announce(ctx, contract.EventDocumentDeleted, gone, *d, version, []string{gone.Key})
	})
	if err != nil {
		return err
	}
	s.settled(ctx, id)
	return nil
}

// current is the user's documents; none yet is an empty set.
func (s *Service) current(ctx context.Context, userID int64) (Docs, error) {
	d, _, err := s.Docs.Get(ctx, userID)
	return d, err
}

// change applies fn to the newest state and stores the result as the next
// version (Documents.Update); fn gets the version it will be stored as.
// The profile hears of the result at once (read-your-writes); if that
// call fails, the events stored with the change bring it the same state.
//
// Whatever the outcome, the reply tells the caller to drop what it keeps
// of the user's documents (a failure may come after the write).
func (s *Service) change(ctx context.Context, userID int64, fn func(d *Docs, version int64) ([]contract.Event, error)) (Docs, error) {
	defer natsx.DocumentsChanged(ctx, userID)
	d, ver, err := s.Docs.Update(ctx, userID, fn)
	if err != nil {
		return d, err
	}
	s.tellProfile(ctx, snapshot(d, ver))
	return d, nil
}

func (s *Service) tellProfile(ctx context.Context, snap contract.DocumentsSnapshot) {
	if s.Profile == nil {
		return
	}
	pctx := natsx.WithCaller(ctx, natsx.Caller{Principal: contract.Principal{UserID: snap.UserID}, Client: natsx.CallerFrom(ctx).Client})
	if err := s.Profile(pctx, snap); err != nil {
		logx.From(ctx).Warn("profile not told of documents; its consumer will catch up", zap.Int64("user_id", snap.UserID), zap.Error(err))
	}
}

func snapshot(d Docs, version int64) contract.DocumentsSnapshot {
	snap := contract.DocumentsSnapshot{UserID: d.UserID, Version: version, Documents: []contract.DocumentRef{}}
	for _, it := range d.Items {
		snap.Documents = append(snap.Documents, contract.DocumentRef{ID: it.ID, TypeID: it.TypeID, Status: it.Status, Key: it.Key, ReviewedAs: it.ReviewedAs})
	}
	return snap
}

// announce is the events of a change: what happened to doc, with the
// state after it, and a deletion request for every orphaned object.
func (s *Service) announce(ctx context.Context, eventType string, doc Doc, d Docs, version int64, orphans []string, more ...contract.Event) ([]contract.Event, error) {
	ev, err := events.New(ctx, eventType, contract.DocumentChanged{DocumentID: doc.ID, TypeID: doc.TypeID, Status: doc.Status, Reason: doc.Reason, Snapshot: snapshot(d, version)})
	if err != nil {
		return nil, err
	}
	evs := append([]contract.Event{ev}, more...)
	for _, k := range orphans {
		o, err := events.New(ctx, contract.EventDocumentObjectOrphaned, contract.ObjectOrphaned{Key: k})
		if err != nil {
			return nil, err
		}
		evs = append(evs, o)
	}
	return evs, nil
}

// settled takes a document off the review queue; a mark left by a failure
// here is dropped when the queue is next read.
// holds reads whether the user's newest set holds document id; known is
// false when the read fails.
func (s *Service) holds(ctx context.Context, userID, id int64) (stored, known bool) {
	d, _, err := s.Docs.Get(context.WithoutCancel(ctx), userID)
	if err != nil {
		return false, false
	}
	return slices.ContainsFunc(d.Items, func(it Doc) bool { return it.ID == id }), true
}

func (s *Service) settled(ctx context.Context, id int64) {
	_ = s.Queue.Settle(context.WithoutCancel(ctx), id)
}

// document is the app's view of a stored document, with a link valid for
// at least half of Limits.LinkTTL.
func (s *Service) document(ctx context.Context, d Doc) (contract.Document, error) {
	u, err := s.link(ctx, d.Key)
	if err != nil {
		return contract.Document{}, err
	}
	return view(d, u), nil
}

func view(d Doc, u string) contract.Document {
	t, _ := contract.DocumentTypeByID(d.TypeID)
	out := contract.Document{ID: d.ID, TypeID: d.TypeID, Type: t.Name, Side: t.Side, Status: d.Status, File: u,
		ContentType: imagex.ContentType, Size: d.Size, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.Reason != "" {
		r := d.Reason
		out.RejectionReason = &r
	}
	return out
}

// NewDocs is the set that adding one document of typeID leaves userID
// with, and the snapshot profile is given of it: for a seed of many
// written in bulk (Add is the request paths' way). Its file is not
// stored.
func NewDocs(userID, id int64, typeID int, size int64, at time.Time) (Docs, contract.DocumentsSnapshot) {
	at = at.UTC()
	d := Docs{UserID: userID, Items: []Doc{{ID: id, TypeID: typeID, Status: contract.DocumentPending,
		Key: documentPrefix(userID) + randomHex() + ".jpg", Size: size, CreatedAt: at, UpdatedAt: at}}}
	return d, snapshot(d, 1)
}

// maxCachedLinks bounds the links kept; past it they start over.
const maxCachedLinks = 20_000

// linkCache keeps the presigned GET of each object for half its life, so a
// list that is read again and again signs each link once per half-life
// instead of every time (a signature costs more than the rest of a listed
// document), while every link served still has at least half its life to
// run: 7½ minutes at the default 15, more than the 2 minutes (the profile
// service's LinkMargin) a phone is given to fetch a link it was shown.
type linkCache struct {
	mu    sync.Mutex
	links map[string]signedLink
}

type signedLink struct {
	url string
	at  time.Time // no later than the signature's own time
}

// link is a GET link to key that is valid for at least half of
// Limits.LinkTTL from now.
func (s *Service) link(ctx context.Context, key string) (string, error) {
	now, ttl := s.now(), s.Limits.LinkTTL
	s.links.mu.Lock()
	l, ok := s.links.links[key]
	s.links.mu.Unlock()
	// A clock that went back could make an old link look young.
	if ok && !now.Before(l.at) && now.Sub(l.at) < ttl/2 {
		return l.url, nil
	}
	u, err := s.Files.GetURL(ctx, key, ttl)
	if err != nil {
		return "", err
	}
	s.links.mu.Lock()
	defer s.links.mu.Unlock()
	if s.links.links == nil || len(s.links.links) >= maxCachedLinks {
		s.links.links = map[string]signedLink{}
	}
	s.links.links[key] = signedLink{url: u, at: now}
	return u, nil
}
