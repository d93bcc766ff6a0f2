package app

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dossapp/backend/pkg/contract"
)

// Support: what staff see of one account and the two ways they get a user
// unstuck (end sessions, clear a PIN lockout). The gateway lets only the
// support and admin roles reach these; the service needs an admin caller.

func noUser() error { return contract.Errorf(contract.NotFound, "No user matches.") }

// findUser reads a query as a user id, a uuid, an email or a phone.
func (s *Service) findUser(ctx context.Context, req contract.AdminUserRequest) (Account, error) {
	q := strings.TrimSpace(req.Query)
	var owner string
	var err error
	switch {
	case req.UserID > 0:
		owner, err = s.claimOwner(ctx, "uid:"+strconv.FormatInt(req.UserID, 10))
	case q == "":
		return Account{}, contract.FieldError("query", "Type an email, a phone, a uuid or a user id.")
	case isDigits(q) && !strings.HasPrefix(q, "+") && len(q) < 12:
		owner, err = s.claimOwner(ctx, "uid:"+q)
	case uuid.Validate(q) == nil:
		owner = strings.ToLower(q)
	case strings.Contains(q, "@"):
		email, nerr := NormalizeEmail("query", q)
		if nerr != nil {
			return Account{}, nerr
		}
		owner, err = s.claimOwner(ctx, "email:"+email)
	default:
		phone, nerr := NormalizePhone("query", q)
		if nerr != nil {
			return Account{}, contract.FieldError("query", "Type an email, a phone (+ and digits), a uuid or a user id.")
		}
		owner, err = s.claimOwner(ctx, "phone:"+phone)
	}
	if errors.Is(err, contract.ErrNotFound) {
		return Account{}, noUser()
	}
	if err != nil {
		return Account{}, err
	}
	acc, err := s.account(ctx, owner)
	if errors.Is(err, contract.ErrNotFound) || (err == nil && !acc.Active) {
		return Account{}, noUser()
	}
	return acc, err
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// AdminUser is one account with its sessions and lockout state.
func (s *Service) AdminUser(ctx context.Context, req contract.AdminUserRequest) (contract.AdminUser, error) {
	acc, err := s.findUser(ctx, req)
	if err != nil {
		return contract.AdminUser{}, err
	}
	out := contract.AdminUser{Account: acc.contract(), Sessions: []contract.SessionInfo{}}
	active, err := s.activeSessions(ctx, acc.UserID)
	if err != nil {
		return contract.AdminUser{}, err
	}
	for _, ss := range active {
		out.Sessions = append(out.Sessions, contract.SessionInfo{ID: ss.ID, Device: deviceLabel(ss.UserAgent, ss.Device), IP: ss.IP,
			CreatedAt: ss.CreatedAt, LastSeenAt: lastSeen(ss)})
	}
	out.Account.ValidTokenCount = len(active)
	out.Account.DeviceToken = "" // the raw push token is no one's business here
	if out.Lockout, err = s.lockoutState(ctx, acc); err != nil {
		return contract.AdminUser{}, err
	}
	return out, nil
}

func (s *Service) lockoutState(ctx context.Context, acc Account) (contract.PINLockout, error) {
	st := contract.PINLockout{UnknownCap: s.Limits.UnknownPINFailures}
	if acc.Phone == "" {
		return st, nil
	}
	sc := unknownDevices(acc.Phone)
	tail, err := s.Ledger.Tail(ctx, sc.failures())
	if err != nil {
		return st, err
	}
	fails, err := s.unknownFailures(tail, s.now())
	if err != nil {
		return st, err
	}
	st.UnknownFailures = len(fails)
	now := s.now()
	var ce *contract.Error
	if err := s.pinRefused(tail, sc, "pin"); errors.As(err, &ce) && ce.Code == contract.RateLimited {
		st.Locked, st.Until = true, now.Add(time.Duration(ce.RetryAfter)*time.Second)
	}
	for _, mac := range acc.TrustedDevices {
		dsc := trustedDevice(acc.UUID, mac)
		t, err := s.Ledger.Tail(ctx, dsc.failures())
		if err != nil {
			return st, err
		}
		if s.pinRefused(t, dsc, "pin") != nil {
			st.LockedDevices++
		}
	}
	return st, nil
}

// AdminSessionsRevoke ends one session of the user, or all of them.
func (s *Service) AdminSessionsRevoke(ctx context.Context, req contract.AdminSessionsRevokeRequest) (contract.AdminSessionsRevokeReply, error) {
	acc, err := s.findUser(ctx, contract.AdminUserRequest{UserID: req.UserID})
	if err != nil {
		return contract.AdminSessionsRevokeReply{}, err
	}
	out := contract.AdminSessionsRevokeReply{Revoked: []string{}}
	if req.SessionID == "" {
		ids, err := s.revokeOthers(ctx, acc.UserID, "")
		out.Revoked = append(out.Revoked, ids...)
		return out, err
	}
	if err := s.SessionRevoke(ctx, contract.Principal{UserID: acc.UserID}, contract.SessionRevokeRequest{ID: req.SessionID}); err != nil {
		return out, err
	}
	out.Revoked = append(out.Revoked, req.SessionID)
	return out, nil
}

// AdminUnlock clears the PIN lockout of the user's phone and devices, as a
// PIN reset does: support has checked who is asking.
func (s *Service) AdminUnlock(ctx context.Context, req contract.AdminUserIDRequest) (contract.PINLockout, error) {
	acc, err := s.findUser(ctx, contract.AdminUserRequest{UserID: req.UserID})
	if err != nil {
		return contract.PINLockout{}, err
	}
	s.clearPINLockout(ctx, acc, acc.Phone)
	return s.lockoutState(ctx, acc)
}
