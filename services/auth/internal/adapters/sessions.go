package adapters

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Sessions keeps one document per session, named s-<user id>-<yyyymmdd>-<n>:
// the n-th session the user opened that UTC day. That name is the
// FerretDB v1 way to a user's sessions: there a filter on anything but a
// lone string _id reads the whole table, so a user's sessions are found by
// asking for their ids one by one, 1, 2, ... of each day a live session
// may have been opened on, until one is missing. The numbers of a day are
// taken from 1 up by unique inserts, so they have no gaps and two logins
// at once cannot take the same one. A revocation is a document of its own
// in another collection, named by the session's id, inserted once and
// never rewritten: FerretDB loses one of two concurrent updates of a
// document, and a last-seen write must not undo a revocation. A revocation
// the gateways must still be told of also has a marker in
// <revocations>_pending until it is propagated, so the retry pass reads
// only those, not every revocation of the last days (on FerretDB v1 any
// query on the revocations reads them all).
type Sessions struct {
	sessions, revocations, pending *mongo.Collection

	mu   sync.Mutex
	next map[string]int64 // per user and day, the number this process expects to be free

	// legacyUntil is when the last session with a random id (opened before
	// ids said whose they are) expires, in Unix nanoseconds; until then a
	// user's list also asks for those by a query on user_id (see
	// FindLegacy).
	legacyUntil atomic.Int64
}

func NewSessions(sessions, revocations *mongo.Collection) *Sessions {
	pending := revocations.Database().Collection(revocations.Name() + "_pending")
	return &Sessions{sessions: sessions, revocations: revocations, pending: pending, next: map[string]int64{}}
}

// clockSkew widens the days a list asks about, so a session opened by a
// replica whose clock runs a little ahead, just after its midnight, is
// still found.
const clockSkew = 5 * time.Minute

type sessionDoc struct {
	ID         string    `bson:"_id"`
	UserID     int64     `bson:"user_id"`
	UUID       string    `bson:"uuid"`
	Device     string    `bson:"device,omitempty"`
	UserAgent  string    `bson:"user_agent,omitempty"`
	IP         string    `bson:"ip,omitempty"`
	CreatedAt  time.Time `bson:"created_at"`
	LastSeenAt time.Time `bson:"last_seen_at"`
	ExpiresAt  time.Time `bson:"expires_at"`
	// RevokedAt is only read: sessions revoked before revocations had
	// their own collection carry it.
	RevokedAt *time.Time `bson:"revoked_at,omitempty"`
}

func (d sessionDoc) session() domain.Session {
	return domain.Session{
		ID: d.ID, UserID: d.UserID, UUID: d.UUID, Device: d.Device, UserAgent: d.UserAgent, IP: d.IP,
		CreatedAt: d.CreatedAt, LastSeenAt: d.LastSeenAt, ExpiresAt: d.ExpiresAt,
	}
}

type revocationDoc struct {
	ID      string    `bson:"_id"` // the session's id
	UserID  int64     `bson:"user_id"`
	At      time.Time `bson:"at"`
	Pending bool      `bson:"pending,omitempty"`
}

func day(t time.Time) string { return t.UTC().Format("20060102") }

func sessionID(userID int64, day string, n int64) string {
	return fmt.Sprintf("s-%d-%s-%d", userID, day, n)
}

// sessionOwner reads the user id out of a session id; ok is false for the
// random ids of sessions opened before.
func sessionOwner(id string) (userID int64, ok bool) {
	parts := strings.Split(id, "-")
	if len(parts) != 4 || parts[0] != "s" {
		return 0, false
	}
	userID, err := strconv.ParseInt(parts[1], 10, 64)
	return userID, err == nil
}

// maxNext bounds the remembered numbers; past it they start over.
const maxNext = 50_000

func (s *Sessions) recall(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.next[key], 1)
}

func (s *Sessions) remember(key string, next int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.next) >= maxNext {
		s.next = map[string]int64{}
	}
	s.next[key] = max(s.next[key], next)
}

// Create takes the day's next number for the session: the one this
// process expects free costs one insert; one another replica took sends
// it looking for the first free one.
func (s *Sessions) Create(ctx context.Context, sess domain.Session) (domain.Session, error) {
	d := day(sess.CreatedAt)
	key := strconv.FormatInt(sess.UserID, 10) + "/" + d
	n := s.recall(key)
	for range 16 {
		doc := sessionDoc{
			ID: sessionID(sess.UserID, d, n), UserID: sess.UserID, UUID: sess.UUID, Device: sess.Device,
			UserAgent: sess.UserAgent, IP: sess.IP, CreatedAt: sess.CreatedAt, LastSeenAt: sess.LastSeenAt, ExpiresAt: sess.ExpiresAt,
		}
		_, err := s.sessions.InsertOne(ctx, doc)
		if err == nil {
			s.remember(key, n+1)
			sess.ID = doc.ID
			return sess, nil
		}
		if !mongox.IsDuplicate(err) {
			return domain.Session{}, mongox.Wrap("session insert", err)
		}
		if n, err = s.firstFree(ctx, sess.UserID, d, n); err != nil {
			return domain.Session{}, err
		}
	}
	return domain.Session{}, mongox.Wrap("session insert", errors.New(key+": too much contention"))
}

// firstFree finds the day's first free number after taken, which is: the
// taken numbers are 1 up to some n, so it strides on, doubling, to a free
// one, then halves back to the first.
func (s *Sessions) firstFree(ctx context.Context, userID int64, d string, taken int64) (int64, error) {
	lo, hi, stride := taken, taken+1, int64(1)
	for {
		found, err := s.exists(ctx, sessionID(userID, d, hi))
		if err != nil {
			return 0, err
		}
		if !found {
			break
		}
		lo, stride = hi, stride*2
		hi += stride
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		found, err := s.exists(ctx, sessionID(userID, d, mid))
		if err != nil {
			return 0, err
		}
		if found {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

func (s *Sessions) exists(ctx context.Context, id string) (bool, error) {
	err := s.sessions.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{"_id": 1})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, mongox.Wrap("session find", err)
}

func (s *Sessions) Get(ctx context.Context, id string) (domain.Session, error) {
	var d sessionDoc
	err := s.sessions.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return domain.Session{}, mongox.ErrNotFound
	}
	if err != nil {
		return domain.Session{}, mongox.Wrap("session find", err)
	}
	return d.session(), nil
}

// Touch reads the session and writes it by the _id alone, the one filter
// FerretDB v1 answers from its index (the owner and the time as conditions
// beside it would read the whole table): the checks are made on what was
// read, and $max keeps a write racing another from moving the time back.
func (s *Sessions) Touch(ctx context.Context, userID int64, id string, at, ifBefore time.Time) error {
	got, err := s.Get(ctx, id)
	if errors.Is(err, mongox.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if got.UserID != userID || !got.LastSeenAt.Before(ifBefore) {
		return nil
	}
	_, err = s.sessions.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$max": bson.M{"last_seen_at": at}})
	return mongox.Wrap("session touch", err)
}

// Live asks for each of the user's session numbers of each day since
// since, and for each unexpired one its revocation: one _id lookup per
// session opened in that time, one per day and one per live session.
func (s *Sessions) Live(ctx context.Context, userID int64, since, now time.Time) ([]domain.Session, error) {
	var open []sessionDoc
	last := day(now.Add(clockSkew))
	for t := since.Add(-clockSkew).UTC(); ; t = t.AddDate(0, 0, 1) {
		d := day(t)
		if d > last {
			break
		}
		for n := int64(1); ; n++ {
			var doc sessionDoc
			err := s.sessions.FindOne(ctx, bson.M{"_id": sessionID(userID, d, n)}).Decode(&doc)
			if errors.Is(err, mongo.ErrNoDocuments) {
				s.remember(strconv.FormatInt(userID, 10)+"/"+d, n)
				break
			}
			if err != nil {
				return nil, mongox.Wrap("sessions find", err)
			}
			if doc.ExpiresAt.After(now) && doc.RevokedAt == nil {
				open = append(open, doc)
			}
		}
	}
	legacy, err := s.legacy(ctx, userID, now)
	if err != nil {
		return nil, err
	}
	open = append(open, legacy...)
	out := make([]domain.Session, 0, len(open))
	for _, doc := range open {
		err := s.revocations.FindOne(ctx, bson.M{"_id": doc.ID}).Err()
		if err == nil {
			continue
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return nil, mongox.Wrap("revocations find", err)
		}
		out = append(out, doc.session())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// legacy lists the user's unexpired sessions with random ids by a query
// on user_id, a scan on FerretDB v1, paid only while such sessions live.
func (s *Sessions) legacy(ctx context.Context, userID int64, now time.Time) ([]sessionDoc, error) {
	if now.UnixNano() >= s.legacyUntil.Load() {
		return nil, nil
	}
	cur, err := s.sessions.Find(ctx, bson.M{"user_id": userID, "expires_at": bson.M{"$gt": now}})
	if err != nil {
		return nil, mongox.Wrap("sessions find", err)
	}
	var all []sessionDoc
	if err := cur.All(ctx, &all); err != nil {
		return nil, mongox.Wrap("sessions find", err)
	}
	var out []sessionDoc
	for _, d := range all {
		if _, named := sessionOwner(d.ID); !named && d.RevokedAt == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// FindLegacy looks, once at start, for sessions with random ids still
// alive at now, so that a user's list finds them until the last expires.
// It scans the sessions once. Replicas of the version before, which open
// such sessions, must be stopped before it runs.
func (s *Sessions) FindLegacy(ctx context.Context, now time.Time) error {
	cur, err := s.sessions.Find(ctx, bson.M{"expires_at": bson.M{"$gt": now}},
		options.Find().SetProjection(bson.M{"_id": 1, "expires_at": 1}))
	if err != nil {
		return mongox.Wrap("legacy sessions", err)
	}
	var all []sessionDoc
	if err := cur.All(ctx, &all); err != nil {
		return mongox.Wrap("legacy sessions", err)
	}
	var until time.Time
	for _, d := range all {
		if _, named := sessionOwner(d.ID); !named && d.ExpiresAt.After(until) {
			until = d.ExpiresAt
		}
	}
	if !until.IsZero() {
		s.legacyUntil.Store(until.UnixNano())
	}
	return nil
}

// Revoke puts a pending revocation's marker in first: a process that dies
// between the two inserts leaves a marker, which Pending completes, never
// a pending record no pass would find.
func (s *Sessions) Revoke(ctx context.Context, r domain.Revocation) error {
	doc := revocationDoc{ID: r.SessionID, UserID: r.UserID, At: r.At, Pending: r.Pending}
	if r.Pending {
		if _, err := s.pending.InsertOne(ctx, doc); err != nil && !mongox.IsDuplicate(err) {
			return mongox.Wrap("session revoke", err)
		}
	}
	_, err := s.revocations.InsertOne(ctx, doc)
	if err == nil || !mongox.IsDuplicate(err) {
		return mongox.Wrap("session revoke", err)
	}
	if !r.Pending {
		return nil
	}
	// Revoked before, the record stays as it was: pending only if it was.
	var before revocationDoc
	if err := s.revocations.FindOne(ctx, bson.M{"_id": r.SessionID}).Decode(&before); err != nil {
		return mongox.Wrap("session revoke", err)
	}
	if !before.Pending {
		_, err := s.pending.DeleteOne(ctx, bson.M{"_id": r.SessionID})
		return mongox.Wrap("session revoke", err)
	}
	return nil
}

// Propagated has one writer per revocation, so the update cannot be lost.
// The marker goes last: one left by a crash only sends the revocation
// again.
func (s *Sessions) Propagated(ctx context.Context, sessionID string) error {
	if _, err := s.revocations.UpdateOne(ctx, bson.M{"_id": sessionID}, bson.M{"$unset": bson.M{"pending": ""}}); err != nil {
		return mongox.Wrap("revocation propagated", err)
	}
	_, err := s.pending.DeleteOne(ctx, bson.M{"_id": sessionID})
	return mongox.Wrap("revocation propagated", err)
}

// Pending reads the markers, which are only the revocations not yet
// propagated, and gives one whose record a crash kept from being written
// its record now.
func (s *Sessions) Pending(ctx context.Context, before time.Time) ([]domain.Revocation, error) {
	cur, err := s.pending.Find(ctx, bson.M{})
	if err != nil {
		return nil, mongox.Wrap("pending revocations", err)
	}
	var docs []revocationDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mongox.Wrap("pending revocations", err)
	}
	out := make([]domain.Revocation, 0, len(docs))
	for _, d := range docs {
		if !d.At.Before(before) {
			continue
		}
		if _, err := s.revocations.InsertOne(ctx, d); err != nil && !mongox.IsDuplicate(err) {
			return nil, mongox.Wrap("pending revocations", err)
		}
		out = append(out, domain.Revocation{SessionID: d.ID, UserID: d.UserID, At: d.At, Pending: true})
	}
	return out, nil
}

// markLegacyPending gives each pending revocation recorded before the
// markers its marker: a scan of the revocations at each start. Replicas of
// the version before, which write no markers, must be stopped before it
// runs (as for FindLegacy).
func (s *Sessions) markLegacyPending(ctx context.Context) error {
	cur, err := s.revocations.Find(ctx, bson.M{"pending": true})
	if err != nil {
		return mongox.Wrap("legacy pending revocations", err)
	}
	var docs []revocationDoc
	if err := cur.All(ctx, &docs); err != nil {
		return mongox.Wrap("legacy pending revocations", err)
	}
	for _, d := range docs {
		if _, err := s.pending.InsertOne(ctx, d); err != nil && !mongox.IsDuplicate(err) {
			return mongox.Wrap("legacy pending revocations", err)
		}
	}
	return nil
}

// Erase scans the sessions for the user's, which only a purge does. The
// numbers this process remembers start over: the user's days are empty.
func (s *Sessions) Erase(ctx context.Context, userID int64) error {
	if _, err := s.sessions.DeleteMany(ctx, bson.M{"user_id": userID}); err != nil {
		return mongox.Wrap("erase sessions", err)
	}
	s.mu.Lock()
	s.next = map[string]int64{}
	s.mu.Unlock()
	return nil
}

// Sweep is called with a time well before the oldest day a list asks
// about (a list goes back one token lifetime, the sweep two days past
// expiry), so a day's numbers keep no gaps while it can be listed.
func (s *Sessions) Sweep(ctx context.Context, expiredBefore, revokedBefore time.Time) error {
	if _, err := s.sessions.DeleteMany(ctx, bson.M{"expires_at": bson.M{"$lt": expiredBefore}}); err != nil {
		return mongox.Wrap("session sweep", err)
	}
	for _, c := range []*mongo.Collection{s.revocations, s.pending} {
		if _, err := c.DeleteMany(ctx, bson.M{"at": bson.M{"$lt": revokedBefore}}); err != nil {
			return mongox.Wrap("revocation sweep", err)
		}
	}
	return nil
}

// EnsureIndexes helps real MongoDB with the queries by user (a purge, and
// the old sessions' lists), and marks the pending revocations of before.
func (s *Sessions) EnsureIndexes(ctx context.Context) error {
	if err := mongox.EnsureIndexes(ctx, s.sessions, map[string]bson.D{"user_expires": {{Key: "user_id", Value: 1}, {Key: "expires_at", Value: 1}}}); err != nil {
		return err
	}
	return s.markLegacyPending(ctx)
}
