package app

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/natsx"
)

// session is a server-side login; the token's sid names it. The document
// is written once; only last_seen_at changes afterwards. A revocation is a
// separate insert (revocation below), because FerretDB loses one of two
// concurrent updates of a document: a last-seen write racing a revocation
// must not be able to undo it.
type session struct {
	ID         string    `bson:"_id"`
	UserID     int64     `bson:"user_id"`
	UUID       string    `bson:"uuid"`
	Device     string    `bson:"device,omitempty"` // the FCM token the login named
	UserAgent  string    `bson:"user_agent,omitempty"`
	IP         string    `bson:"ip,omitempty"`
	CreatedAt  time.Time `bson:"created_at"`
	LastSeenAt time.Time `bson:"last_seen_at"`
	ExpiresAt  time.Time `bson:"expires_at"`
	// RevokedAt is only read: sessions revoked before revocations had
	// their own collection carry it.
	RevokedAt *time.Time `bson:"revoked_at,omitempty"`
}

// revocation ends a session; its _id is the session id, so revoking twice
// is one document.
type revocation struct {
	ID     string    `bson:"_id"`
	UserID int64     `bson:"user_id"`
	At     time.Time `bson:"at"`
	// Pending is set while the gateways may not know yet: cleared once the
	// revocation list has it, retried by RepublishRevocations until then.
	Pending bool `bson:"pending,omitempty"`
}

// secretStamp names the account's current secret without holding it: a
// login or a 2FA challenge remembers the stamp it was granted under, and
// is refused if the secret changed in between.
func secretStamp(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:8])
}

// newSession records a session for acc and signs its token. acc must be
// the state whose secret the caller just checked: if the secret changed
// meanwhile (a password change that may be revoking every other session
// right now), the session is revoked again and the login refused. A
// change lists sessions after storing the new secret, and this reads the
// secret after storing the session, so one of the two always sees the
// other.
func (s *Service) newSession(ctx context.Context, acc Account, device string, client contract.Client) (contract.Session, error) {
	now := s.now()
	sess := session{
		ID: randomID(), UserID: acc.UserID, UUID: acc.UUID, Device: device,
		UserAgent: client.UserAgent, IP: client.IP, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.Signer.TTL),
	}
	if _, err := s.Sessions.InsertOne(ctx, sess); err != nil {
		return contract.Session{}, mongox.Wrap("session insert", err)
	}
	// acc was read before the session was stored: unless a version was
	// stored since (one lookup, which sees a version whose head is not
	// moved yet), it is the state as of now.
	fresh := acc
	changed := true
	if acc.version > 0 {
		var err error
		if changed, err = s.Accounts.Changed(ctx, acc.UUID, acc.version); err != nil {
			return contract.Session{}, err
		}
	}
	if changed {
		var err error
		if fresh, _, err = s.Accounts.Latest(ctx, acc.UUID); err != nil {
			return contract.Session{}, err
		}
	}
	if !fresh.Active || fresh.PINHash != acc.PINHash || fresh.Deletion != nil {
		if err := s.revoke(ctx, acc.UserID, sess.ID, false); err != nil {
			return contract.Session{}, err
		}
		if fresh.Deletion != nil {
			return contract.Session{}, errDeleting()
		}
		return contract.Session{}, contract.Errorf(contract.Unauthenticated, "Your PIN was just changed. Please log in again.").Because(contract.ReasonSessionExpired)
	}
	tok, err := s.Signer.Sign(acc.UUID, acc.UserID, sess.ID, now)
	if err != nil {
		return contract.Session{}, err
	}
	user := contract.User{ID: acc.UserID, UUID: acc.UUID, Email: acc.Email, Phone: acc.Phone}
	user.FirstName, user.LastName = s.names(ctx, acc)
	return contract.Session{
		Token: tok, TokenType: "Bearer", ExpiresIn: int64(s.Signer.TTL / time.Second), User: user,
	}, nil
}

// revoke records a session's end. pending says the gateways must still be
// told (the session's token was handed out); a session whose token never
// left auth needs only this record.
func (s *Service) revoke(ctx context.Context, userID int64, sid string, pending bool) error {
	_, err := s.Revocations.InsertOne(ctx, revocation{ID: sid, UserID: userID, At: s.now(), Pending: pending})
	if err != nil && !mongox.IsDuplicate(err) {
		return mongox.Wrap("session revoke", err)
	}
	return nil
}

// revokeEverywhere ends a session for the store and for every gateway. If
// the revocation list cannot be reached, the caller hears so, and the
// record stays pending for RepublishRevocations: the gateways learn of it
// as soon as the list is back, whatever the caller does.
func (s *Service) revokeEverywhere(ctx context.Context, userID int64, sid string) error {
	if err := s.revoke(ctx, userID, sid, true); err != nil {
		return err
	}
	if err := s.Revoked.Revoke(ctx, sid); err != nil {
		return err
	}
	s.propagated(ctx, sid)
	return nil
}

func (s *Service) propagated(ctx context.Context, sid string) {
	// Single writer per record: clearing the flag twice is harmless.
	_, _ = s.Revocations.UpdateOne(context.WithoutCancel(ctx), bson.M{"_id": sid}, bson.M{"$unset": bson.M{"pending": ""}})
}

// RepublishRevocations tells the gateways of every revocation still
// pending after grace (one whose list write failed, or whose process died
// between the record and the list), and returns how many it sent.
func (s *Service) RepublishRevocations(ctx context.Context, grace time.Duration) (int, error) {
	cur, err := s.Revocations.Find(ctx, bson.M{"pending": true, "at": bson.M{"$lt": s.now().Add(-grace)}})
	if err != nil {
		return 0, mongox.Wrap("pending revocations", err)
	}
	var pending []revocation
	if err := cur.All(ctx, &pending); err != nil {
		return 0, mongox.Wrap("pending revocations", err)
	}
	n := 0
	for _, r := range pending {
		if err := s.Revoked.Revoke(ctx, r.ID); err != nil {
			return n, err
		}
		s.propagated(ctx, r.ID)
		n++
	}
	return n, nil
}

// activeSessions lists the account's sessions that are neither expired
// nor revoked, oldest first.
func (s *Service) activeSessions(ctx context.Context, userID int64) ([]session, error) {
	cur, err := s.Sessions.Find(ctx, bson.M{"user_id": userID, "expires_at": bson.M{"$gt": s.now()}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}}))
	if err != nil {
		return nil, mongox.Wrap("sessions find", err)
	}
	var all []session
	if err := cur.All(ctx, &all); err != nil {
		return nil, mongox.Wrap("sessions find", err)
	}
	ids := make([]string, 0, len(all))
	for _, ss := range all {
		ids = append(ids, ss.ID)
	}
	revoked := map[string]bool{}
	if len(ids) > 0 {
		cur, err := s.Revocations.Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
		if err != nil {
			return nil, mongox.Wrap("revocations find", err)
		}
		var rs []revocation
		if err := cur.All(ctx, &rs); err != nil {
			return nil, mongox.Wrap("revocations find", err)
		}
		for _, r := range rs {
			revoked[r.ID] = true
		}
	}
	active := all[:0]
	for _, ss := range all {
		if !revoked[ss.ID] && ss.RevokedAt == nil {
			active = append(active, ss)
		}
	}
	return active, nil
}

// revokeOthers ends every active session of the account but keep, and
// returns their ids. One that fails does not spare the rest.
func (s *Service) revokeOthers(ctx context.Context, userID int64, keep string) ([]string, error) {
	active, err := s.activeSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	var first error
	for _, ss := range active {
		if ss.ID == keep {
			continue
		}
		if err := s.revokeEverywhere(ctx, userID, ss.ID); err != nil {
			first = cmp.Or(first, err)
			continue
		}
		ids = append(ids, ss.ID)
	}
	return ids, first
}

// touch moves the caller's session's last-seen time forward, at most once
// per Limits.LastSeenEvery: this replica remembers when it last wrote, and
// the write itself only matches an older time. Two replicas writing at
// once both write about now, so a lost update costs nothing.
func (s *Service) touch(ctx context.Context, p contract.Principal) {
	if p.SessionID == "" || p.UserID == 0 {
		return
	}
	now := s.now()
	every := s.Limits.LastSeenEvery
	if !s.seen.due(p.SessionID, now, every) {
		return
	}
	_, _ = s.Sessions.UpdateOne(ctx,
		bson.M{"_id": p.SessionID, "user_id": p.UserID, "last_seen_at": bson.M{"$lt": now.Add(-every)}},
		bson.M{"$set": bson.M{"last_seen_at": now}})
}

// SessionsList lists the caller's active sessions, marking the current.
func (s *Service) SessionsList(ctx context.Context, p contract.Principal, _ contract.SessionsListRequest) (contract.SessionsListReply, error) {
	s.touch(ctx, p)
	active, err := s.activeSessions(ctx, p.UserID)
	if err != nil {
		return contract.SessionsListReply{}, err
	}
	out := make([]contract.SessionInfo, 0, len(active))
	for _, ss := range active {
		out = append(out, contract.SessionInfo{
			ID: ss.ID, Device: deviceLabel(ss.UserAgent, ss.Device), IP: ss.IP,
			CreatedAt: ss.CreatedAt, LastSeenAt: lastSeen(ss), Current: ss.ID == p.SessionID,
		})
	}
	return contract.SessionsListReply{Sessions: out}, nil
}

func lastSeen(ss session) time.Time {
	if ss.LastSeenAt.IsZero() {
		return ss.CreatedAt
	}
	return ss.LastSeenAt
}

// SessionRevoke ends one of the caller's sessions. Someone else's session,
// an unknown id and one already ended all answer the same NotFound, so the
// answer tells nothing about other accounts.
func (s *Service) SessionRevoke(ctx context.Context, p contract.Principal, req contract.SessionRevokeRequest) error {
	notFound := contract.Errorf(contract.NotFound, "No such session.")
	if req.ID == "" || len(req.ID) > 64 {
		return notFound
	}
	active, err := s.activeSessions(ctx, p.UserID)
	if err != nil {
		return err
	}
	for _, ss := range active {
		if ss.ID == req.ID {
			return s.revokeEverywhere(ctx, p.UserID, ss.ID)
		}
	}
	return notFound
}

// Logout revokes the caller's session everywhere.
func (s *Service) Logout(ctx context.Context, p contract.Principal) error {
	if p.SessionID == "" {
		return contract.Errorf(contract.Unauthenticated, "Unauthenticated.")
	}
	return s.revokeEverywhere(ctx, p.UserID, p.SessionID)
}

// deviceLabel names a session's device for its owner: the client's user
// agent when it sent one, else a short fingerprint of its push token (the
// token itself stays in the store).
func deviceLabel(userAgent, pushToken string) string {
	ua := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(userAgent))
	if r := []rune(ua); len(r) > 120 {
		ua = string(r[:120])
	}
	switch {
	case ua != "":
		return ua
	case pushToken != "":
		sum := sha256.Sum256([]byte(pushToken))
		return "App device " + hex.EncodeToString(sum[:3])
	default:
		return "Unknown device"
	}
}

// sessionCount is the number of the account's active sessions.
func (s *Service) sessionCount(ctx context.Context, userID int64) (int, error) {
	active, err := s.activeSessions(ctx, userID)
	return len(active), err
}

// callerPrincipal is the principal the gateway vouched for, if any.
func callerPrincipal(ctx context.Context) contract.Principal {
	return natsx.CallerFrom(ctx).Principal
}

// callerClient is what the gateway saw of the client.
func callerClient(ctx context.Context) contract.Client {
	return natsx.CallerFrom(ctx).Client
}

// lastWrites remembers when this replica last wrote each session's
// last-seen time; entries older than the interval are forgotten as it goes,
// so it holds only the sessions active in the last interval.
type lastWrites struct {
	mu     sync.Mutex
	at     map[string]time.Time
	pruned time.Time
}

// due reports whether sid's last-seen time should be written now, and if
// so records that it was.
func (w *lastWrites) due(sid string, now time.Time, every time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at == nil {
		w.at = map[string]time.Time{}
	}
	if now.Sub(w.pruned) >= every {
		for id, t := range w.at {
			if now.Sub(t) >= every {
				delete(w.at, id)
			}
		}
		w.pruned = now
	}
	if t, ok := w.at[sid]; ok && now.Sub(t) < every {
		return false
	}
	w.at[sid] = now
	return true
}
