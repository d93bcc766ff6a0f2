package app

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dossapp/backend/pkg/contract"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

func badLogin() error {
	return &contract.Error{Code: contract.Unauthenticated, Message: "The phone number or PIN is incorrect.", Reason: contract.ReasonInvalidCredentials}
}

// Login checks phone + PIN under the lockout of the device it comes from
// (see checkSecret). An unknown phone costs the same hash and the same
// lockout as a wrong PIN, so neither timing nor answers tell them apart.
func (s *Service) Login(ctx context.Context, req contract.LoginRequest, client contract.Client) (contract.LoginReply, error) {
	var v contract.Validation
	phone, err := NormalizePhone("phone", req.Phone)
	if err != nil {
		v.Add("phone", contract.AsError(err).Message)
	}
	if req.Password == "" {
		v.Add("password", "The password field is required.")
	} else if len(req.Password) > 4*maxPasswordLen || utf8.RuneCountInString(req.Password) > maxPasswordLen {
		v.Add("password", "The password may not be greater than 72 characters.")
	}
	if err := v.Err(); err != nil {
		return contract.LoginReply{}, err
	}
	// The address's hit is appended with the PIN check's turn.
	var hits []domain.Appending
	if hit, ok := s.ipHit(ctx, "check", s.Limits.IPChecks); ok {
		if err := s.ipRefused(ctx, hit); err != nil {
			return contract.LoginReply{}, err
		}
		hits = append(hits, hit)
	}
	found, err := s.activeByPhone(ctx, phone)
	var acc *Account
	if err == nil {
		acc = &found
	} else if !errors.Is(err, contract.ErrNotFound) {
		return contract.LoginReply{}, err
	}
	right, err := s.checkSecret(ctx, acc, phone, req.DeviceToken, "phone", func() bool {
		if acc == nil {
			s.Hasher.Burn(req.Password)
			return false
		}
		return s.Hasher.Verify(acc.PINHash, req.Password)
	}, hits...)
	if err != nil {
		return contract.LoginReply{}, err
	}
	if !right {
		return contract.LoginReply{}, badLogin()
	}
	// Told only to whoever knows the PIN: a stranger with the number
	// learns nothing from a deletion.
	if acc.Deletion != nil {
		return contract.LoginReply{}, errDeleting()
	}
	if acc.TwoFA {
		id, err := s.startLogin2FA(ctx, *acc, req.DeviceToken)
		if err != nil {
			return contract.LoginReply{}, err
		}
		return contract.LoginReply{Challenge: id}, nil
	}
	sess, err := s.loggedIn(ctx, *acc, req.DeviceToken, client)
	if err != nil {
		return contract.LoginReply{}, err
	}
	return contract.LoginReply{Session: &sess}, nil
}

// loggedIn opens a session for an account whose secrets were all checked,
// remembering the device it logged in from, which the account trusts
// from now on.
func (s *Service) loggedIn(ctx context.Context, acc Account, device string, client contract.Client) (contract.Session, error) {
	mac := s.deviceMAC(acc.UUID, device)
	if device != "" && (device != acc.DeviceToken || !acc.trusts(mac)) {
		newly := !acc.trusts(mac)
		if updated, err := s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
			a.DeviceToken = device
			a.trust(mac, s.Limits.TrustedDevices)
			return nil, nil
		}); err == nil && updated.PINHash == acc.PINHash {
			acc = updated
			if newly {
				// The success that earned the trust opens the device's own
				// count, so that its next check starts from a chain that
				// exists; one that exists already is left as it is.
				_, _ = s.Ledger.Append(context.WithoutCancel(ctx), trustedDevice(acc.UUID, mac).failures(), func(tail domain.Tail, _ time.Time) (string, error) {
					if !tail.Empty() {
						return "", errOpened
					}
					return pinOK, nil
				})
			}
		}
	}
	return s.newSession(ctx, acc, device, client)
}

// errOpened: the device's count exists already.
var errOpened = errors.New("opened")

// activeByPhone finds the active account on phone through the phone's
// claim. The account the claim named when this process last read it is
// tried first, without reading the claim: an account active on the phone
// holds its claim (no one takes over a claim in use, see takeClaim), so
// only when it no longer is (the number moved, the account went) is the
// claim read again.
func (s *Service) activeByPhone(ctx context.Context, phone string) (Account, error) {
	key := "phone:" + phone
	if owner, ok := s.phoneOwners.get(key); ok {
		acc, err := s.account(ctx, owner)
		if err == nil && activeOn(acc, phone) {
			return acc, nil
		}
		if err != nil && !errors.Is(err, contract.ErrNotFound) {
			return Account{}, err
		}
		s.phoneOwners.forget(key)
	}
	owner, err := s.claimOwner(ctx, key)
	if err != nil {
		return Account{}, err
	}
	acc, err := s.account(ctx, owner)
	if err != nil {
		return Account{}, err
	}
	if !activeOn(acc, phone) {
		return Account{}, contract.ErrNotFound
	}
	s.phoneOwners.put(key, owner)
	return acc, nil
}

func activeOn(acc Account, phone string) bool {
	return acc.Active && acc.Phone == phone && acc.PINHash != ""
}

// owners remembers claim holders this process read, up to maxOwners of
// them (past it, it starts over).
type owners struct {
	mu sync.Mutex
	m  map[string]string
}

const maxOwners = 50_000

func (o *owners) get(key string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.m[key]
	return v, ok
}

func (o *owners) put(key, owner string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil || len(o.m) >= maxOwners {
		o.m = map[string]string{}
	}
	o.m[key] = owner
}

func (o *owners) forget(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, key)
}

// AccountGet answers another service's question about an active account.
func (s *Service) AccountGet(ctx context.Context, req contract.AccountGetRequest) (contract.Account, error) {
	owner, err := s.claimOwner(ctx, "uid:"+strconv.FormatInt(req.UserID, 10))
	if errors.Is(err, contract.ErrNotFound) {
		return contract.Account{}, contract.Errorf(contract.NotFound, "No such account.")
	}
	if err != nil {
		return contract.Account{}, err
	}
	acc, err := s.account(ctx, owner)
	if err != nil {
		return contract.Account{}, err
	}
	if acc.Deletion != nil {
		return contract.Account{}, contract.Errorf(contract.NotFound, "No such account.")
	}
	if p := callerPrincipal(ctx); p.UserID == req.UserID {
		s.touch(ctx, p)
	}
	return s.withSessions(ctx, acc)
}

// withSessions is the account as other services see it, with the number
// of its active sessions.
func (s *Service) withSessions(ctx context.Context, acc Account) (contract.Account, error) {
	out := acc.contract()
	n, err := s.sessionCount(ctx, acc.UserID)
	if err != nil {
		return contract.Account{}, err
	}
	out.ValidTokenCount = n
	return out, nil
}
