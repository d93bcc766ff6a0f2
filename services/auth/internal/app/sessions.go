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

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// revoke records a session's end. pending says the gateways must still be
// told (the session's token was handed out); a session whose token never
// left auth needs only this record.
func (s *Service) revoke(ctx context.Context, userID int64, sid string, pending bool) error {
	return s.Sessions.Revoke(ctx, domain.Revocation{SessionID: sid, UserID: userID, At: s.now(), Pending: pending})
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
	// Clearing the flag twice is harmless, and one left set only sends the
	// revocation again.
	_ = s.Sessions.Propagated(context.WithoutCancel(ctx), sid)
}

// RepublishRevocations tells the gateways of every revocation still
// pending after grace (one whose list write failed, or whose process died
// between the record and the list), and returns how many it sent.
func (s *Service) RepublishRevocations(ctx context.Context, grace time.Duration) (int, error) {
	pending, err := s.Sessions.Pending(ctx, s.now().Add(-grace))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range pending {
		if err := s.Revoked.Revoke(ctx, r.SessionID); err != nil {
			return n, err
		}
		s.propagated(ctx, r.SessionID)
		n++
	}
	return n, nil
}

// activeSessions lists the account's sessions that are neither expired
// nor revoked, oldest first.
func (s *Service) activeSessions(ctx context.Context, userID int64) ([]domain.Session, error) {
	now := s.now()
	// No session opened before one token lifetime ago is still open.
	return s.Sessions.Live(ctx, userID, now.Add(-s.Signer.TTL), now)
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
// the store writes only over an older time, never moves it back, nor
// touches another user's session. Two replicas writing at once both write
// about now, so a lost update costs nothing.
func (s *Service) touch(ctx context.Context, p contract.Principal) {
	if p.SessionID == "" || p.UserID == 0 {
		return
	}
	now := s.now()
	every := s.Limits.LastSeenEvery
	if !s.seen.due(p.SessionID, now, every) {
		return
	}
	_ = s.Sessions.Touch(ctx, p.UserID, p.SessionID, now, now.Add(-every))
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

func lastSeen(ss domain.Session) time.Time {
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
