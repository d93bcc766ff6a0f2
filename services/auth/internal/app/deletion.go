package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
)

// Account deletion. The request (PIN again) marks the account, ends every
// session and tells the email; the mark refuses logins, forgotten-PIN
// codes and every command. After the grace period the purge runs as a
// saga: auth emits account_deletion_due, each service erases its part and
// says so, and auth marks the deletion purged when all have. Each step is
// a version of the deletion's record (a unique insert: of a cancel and a
// purge racing, one wins) with its audit event in the same insert.

// accountDeletion marks an account whose owner asked for its deletion.
type accountDeletion struct {
	RequestedAt time.Time `bson:"requested_at"`
	PurgeAt     time.Time `bson:"purge_at"`
}

// Deletion is the saga's record, keyed by the account's uuid. It holds no
// email or phone: the erase event reads them from the account.
type Deletion struct {
	UUID        string               `bson:"uuid"`
	UserID      int64                `bson:"user_id"`
	Status      string               `bson:"status"`
	RequestedAt time.Time            `bson:"requested_at"`
	PurgeAt     time.Time            `bson:"purge_at"`
	Parts       map[string]time.Time `bson:"parts,omitempty"`
	DueSentAt   *time.Time           `bson:"due_sent_at,omitempty"`
	CancelledAt *time.Time           `bson:"cancelled_at,omitempty"`
	CancelledBy string               `bson:"cancelled_by,omitempty"`
	PurgedAt    *time.Time           `bson:"purged_at,omitempty"`
}

func (d Deletion) admin() contract.AdminDeletion {
	out := contract.AdminDeletion{
		UserID: d.UserID, UUID: d.UUID, Status: d.Status, RequestedAt: d.RequestedAt, PurgeAt: d.PurgeAt,
		Parts: map[string]time.Time{}, Pending: []string{},
		CancelledAt: d.CancelledAt, CancelledBy: d.CancelledBy, PurgedAt: d.PurgedAt,
	}
	for _, p := range contract.ErasureParts {
		if at, ok := d.Parts[p]; ok {
			out.Parts[p] = at
		} else if d.Status == contract.DeletionPurging {
			out.Pending = append(out.Pending, p)
		}
	}
	return out
}

// DeletionResend is how long a purge waits for its parts before auth asks
// the missing services again (a service whose consumer gave up).
const DeletionResend = time.Minute

// deletionMessage is what a login of an account being deleted is told.
const deletionMessage = "This account is being deleted. Contact support to cancel the deletion."

func errDeleting() error { return contract.Errorf(contract.Forbidden, deletionMessage) }

// RequestDeletion deletes the caller's own account (the principal the
// gateway vouched for; the request names no account): the PIN is checked
// under the lockout of the session's device, as a login's.
func (s *Service) RequestDeletion(ctx context.Context, p contract.Principal, req contract.AccountDeleteRequest) (contract.AccountDeleteReply, error) {
	if req.PIN == "" {
		return contract.AccountDeleteReply{}, contract.FieldError("pin", "The pin field is required.")
	}
	if len(req.PIN) > 4*maxPasswordLen {
		return contract.AccountDeleteReply{}, contract.FieldError("pin", "The PIN is incorrect.")
	}
	acc, err := s.caller(ctx, p, 0)
	if err != nil {
		return contract.AccountDeleteReply{}, err
	}
	right, err := s.checkSecret(ctx, &acc, acc.Phone, s.sessionDevice(ctx, p.SessionID), "pin", func() bool {
		return s.Hasher.Verify(acc.PINHash, req.PIN)
	})
	if err != nil {
		return contract.AccountDeleteReply{}, err
	}
	if !right {
		return contract.AccountDeleteReply{}, contract.FieldError("pin", "The PIN is incorrect.")
	}
	// The store keeps milliseconds; the event must name the same instant.
	now := s.now().Truncate(time.Millisecond)
	mark := accountDeletion{RequestedAt: now, PurgeAt: now.Add(max(0, s.Limits.DeletionGrace))}
	checked := acc.PINHash
	updated, err := s.Accounts.Update(ctx, acc.UUID, func(a *Account) ([]contract.Event, error) {
		if !a.Active || a.PINHash != checked || a.Deletion != nil {
			return nil, contract.FieldError("pin", "The PIN is incorrect.")
		}
		a.Deletion = &mark
		// The notice first: the relay publishes in order, so it is out
		// before the purge (grace 0) can erase the account's records.
		evs := s.notice(ctx, contract.ChannelEmail, a.Email, "account_deletion", a, map[string]string{"purge_at": mark.PurgeAt.Format("2 January 2006 15:04 MST")})
		// The request's event is also profile's word to revoke the
		// account's passes (auth calls no service).
		return append(evs, s.event(ctx, contract.EventAccountDeletionRequested, contract.AccountDeletionRequested{
			UserID: a.UserID, UUID: a.UUID, RequestedAt: mark.RequestedAt, PurgeAt: mark.PurgeAt,
		})...), nil
	})
	if err != nil {
		return contract.AccountDeleteReply{}, err
	}
	// The request's event revokes them again if this fails halfway.
	revoked, err := s.revokeOthers(ctx, updated.UserID, "")
	if err != nil {
		slog.WarnContext(ctx, "account deletion: some sessions are revoked later", "err", err)
	}
	return contract.AccountDeleteReply{
		Deletion: contract.DeletionState{Status: contract.DeletionPending, RequestedAt: mark.RequestedAt, PurgeAt: mark.PurgeAt},
		Revoked:  revoked,
	}, nil
}

// HandleDeletionEvent is auth's consumer of the saga: its own request,
// its own part of the erasure, and the other services' reports.
func (s *Service) HandleDeletionEvent(ctx context.Context, ev contract.Event) error {
	switch ev.Type {
	case contract.EventAccountDeletionRequested:
		var d contract.AccountDeletionRequested
		if err := ev.Decode(&d); err != nil {
			return errors.Join(events.ErrPermanent, err)
		}
		return s.onDeletionRequested(ctx, d)
	case contract.EventAccountDeletionDue:
		var d contract.AccountDeletionDue
		if err := ev.Decode(&d); err != nil {
			return errors.Join(events.ErrPermanent, err)
		}
		// Only an erasure auth started: its record, purging, of the
		// same user. Nothing else may make auth erase an account or the
		// counters named after an address.
		rec, _, err := s.Deletions.Get(ctx, d.UUID)
		switch {
		case errors.Is(err, contract.ErrNotFound):
			return nil // settled long ago, or never asked for
		case err != nil:
			return err
		case rec.UserID != d.UserID:
			return fmt.Errorf("%w: the erasure of %s names user %d, its record %d", events.ErrPermanent, d.UUID, d.UserID, rec.UserID)
		case rec.Status != contract.DeletionPurging:
			return nil // cancelled, or purged already
		}
		if err := s.EraseAccount(ctx, d); err != nil {
			return err
		}
		return s.partErased(ctx, d.UUID, contract.ServiceAuth)
	}
	for _, svc := range contract.ErasureParts {
		if ev.Type == contract.ErasedEvent(svc) {
			var d contract.AccountPartErased
			if err := ev.Decode(&d); err != nil {
				return errors.Join(events.ErrPermanent, err)
			}
			// The subject says who erased: only that service may publish
			// it (bus permissions), whatever the body claims.
			return s.partErased(ctx, d.UUID, svc)
		}
	}
	return nil
}

// onDeletionRequested makes the request durable: every session revoked
// (again), the saga's record and its place in the due index, and the
// purge started at once when the grace is over (or zero).
func (s *Service) onDeletionRequested(ctx context.Context, d contract.AccountDeletionRequested) error {
	acc, err := s.account(ctx, d.UUID)
	if errors.Is(err, contract.ErrNotFound) {
		return nil // erased already
	}
	if err != nil {
		return err
	}
	if acc.Deletion == nil || !acc.Deletion.RequestedAt.Equal(d.RequestedAt) {
		// Cancelled meanwhile: the sessions the owner opened since stay.
		return nil
	}
	if _, err := s.revokeOthers(ctx, d.UserID, ""); err != nil {
		return err
	}
	if _, _, err := s.changeDeletion(ctx, d.UUID, func(cur *Deletion, exists bool) (string, []contract.Event, error) {
		if exists && !(cur.Status == contract.DeletionCancelled && cur.RequestedAt.Before(d.RequestedAt)) {
			return "", nil, nil // a redelivery
		}
		*cur = Deletion{UUID: d.UUID, UserID: d.UserID, Status: contract.DeletionPending, RequestedAt: d.RequestedAt, PurgeAt: d.PurgeAt}
		return "requested", nil, nil
	}); err != nil {
		return err
	}
	if err := s.Deletions.MarkDue(ctx, d.UUID, d.PurgeAt); err != nil {
		return err
	}
	if s.now().Before(d.PurgeAt) {
		return nil
	}
	return s.startPurge(ctx, d.UUID, false)
}

// errNoChange: a step that changes nothing stores no version.
var errNoChange = errors.New("no change")

// changeDeletion applies fn to the deletion of uuid (exists false: none
// yet) and stores the result with its audit entry (step) and any other
// events, retrying on a lost race. fn returning step "" changes nothing.
func (s *Service) changeDeletion(ctx context.Context, uuid string, fn func(d *Deletion, exists bool) (string, []contract.Event, error)) (Deletion, bool, error) {
	for range 32 {
		cur, ver, err := s.Deletions.Get(ctx, uuid)
		exists := err == nil
		if err != nil && !errors.Is(err, contract.ErrNotFound) {
			return cur, false, err
		}
		step, evs, err := fn(&cur, exists)
		if err != nil || step == "" {
			return cur, false, err
		}
		audit := s.event(ctx, contract.EventAccountDeletionChanged, contract.AccountDeletionChanged{
			AdminDeletion: cur.admin(), Step: step, By: cur.CancelledBy,
		})
		switch err := s.Deletions.Put(ctx, uuid, ver, cur, append(audit, evs...)); {
		case errors.Is(err, contract.ErrExists):
			continue
		case err != nil:
			return cur, false, err
		}
		return cur, true, nil
	}
	return Deletion{}, false, contract.StoreUnavailable("deletion update", fmt.Errorf("%s: too much contention", uuid))
}

// startPurge moves a due deletion to purging and emits the erase event;
// resend asks again for a purge whose parts are late.
func (s *Service) startPurge(ctx context.Context, uuid string, resend bool) error {
	now := s.now()
	var due contract.AccountDeletionDue
	if acc, err := s.account(ctx, uuid); err == nil {
		due.Email, due.Phone = acc.Email, acc.Phone
	} else if !errors.Is(err, contract.ErrNotFound) {
		return err
	}
	_, _, err := s.changeDeletion(ctx, uuid, func(d *Deletion, exists bool) (string, []contract.Event, error) {
		step := "purge_started"
		switch {
		case !exists:
			return "", nil, nil
		case resend && d.Status == contract.DeletionPurging && d.DueSentAt != nil && now.Sub(*d.DueSentAt) >= DeletionResend:
			step = "purge_retried"
		case resend || d.Status != contract.DeletionPending || now.Before(d.PurgeAt):
			return "", nil, nil
		}
		d.Status, d.DueSentAt = contract.DeletionPurging, &now
		due.UserID, due.UUID = d.UserID, d.UUID
		return step, s.event(ctx, contract.EventAccountDeletionDue, due), nil
	})
	return err
}

// partErased records one service's part; the last one marks the deletion
// purged and drops it from the due index.
func (s *Service) partErased(ctx context.Context, uuid, service string) error {
	now := s.now()
	d, changed, err := s.changeDeletion(ctx, uuid, func(d *Deletion, exists bool) (string, []contract.Event, error) {
		if !exists || d.Status != contract.DeletionPurging {
			return "", nil, nil
		}
		if _, done := d.Parts[service]; done {
			return "", nil, nil
		}
		if d.Parts == nil {
			d.Parts = map[string]time.Time{}
		}
		d.Parts[service] = now
		for _, p := range contract.ErasureParts {
			if _, done := d.Parts[p]; !done {
				return "part_erased:" + service, nil, nil
			}
		}
		d.Status, d.PurgedAt = contract.DeletionPurged, &now
		return "purged", nil, nil
	})
	if err != nil || !changed || d.Status != contract.DeletionPurged {
		return err
	}
	return s.Deletions.Settle(ctx, uuid)
}

// DeletionsPass is one round of the deletion loop: each deletion in the
// due index is started when due, asked again when its parts are late, and
// dropped from the index when it is over.
func (s *Service) DeletionsPass(ctx context.Context) error {
	due, err := s.Deletions.Due(ctx)
	if err != nil {
		return err
	}
	var first error
	for _, uuid := range due {
		d, _, err := s.Deletions.Get(ctx, uuid)
		switch {
		case errors.Is(err, contract.ErrNotFound):
			continue // its request is still on its way
		case err != nil:
			first = errors.Join(first, err)
			continue
		}
		switch d.Status {
		case contract.DeletionPending:
			err = s.startPurge(ctx, uuid, false)
		case contract.DeletionPurging:
			err = s.startPurge(ctx, uuid, true)
		default:
			err = s.Deletions.Settle(ctx, uuid)
		}
		if err != nil {
			first = errors.Join(first, err)
		}
	}
	return first
}

// EraseAccount is auth's part of a purge: sessions (revoked first),
// challenges, codes and the counters named after the account's addresses
// and devices, its claims on the email, phone and id (so both can be
// registered again, by anyone, as a new account), and the account itself.
// Revocation records stay until swept: they hold a session id and a user
// id and keep old tokens dead. Idempotent.
func (s *Service) EraseAccount(ctx context.Context, d contract.AccountDeletionDue) error {
	var addrs, targets []string
	for _, a := range []string{d.Email, d.Phone} {
		if a != "" {
			addrs = append(addrs, a)
		}
	}
	acc, err := s.account(ctx, d.UUID)
	switch {
	case err == nil:
		// Only the addresses the account verified. One it asked to change
		// to (or a pending phone of old) was never its own: the codes and
		// counters keyed by it are also whoever else's uses it, and all of
		// them are swept two days after they were written, before any
		// deletion's grace ends.
		for _, a := range []string{acc.Email, acc.Phone} {
			if a != "" && !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
		// A claim on a change's address left by a crash mid-move is
		// released all the same (only this account's: Release is
		// conditional on the holder).
		for _, c := range []*contactChange{acc.EmailChange, acc.PhoneChange} {
			if c != nil && c.To != "" && !slices.Contains(addrs, c.To) {
				targets = append(targets, c.To)
			}
		}
	case !errors.Is(err, contract.ErrNotFound):
		return err
	}
	if _, err := s.revokeOthers(ctx, d.UserID, ""); err != nil {
		return err
	}
	if err := s.Sessions.Erase(ctx, d.UserID); err != nil {
		return err
	}
	if err := s.Challenges.Erase(ctx, d.UUID); err != nil {
		return err
	}
	if err := s.OTPs.EraseSubject(ctx, d.UUID); err != nil {
		return err
	}
	claims := []string{"uid:" + strconv.FormatInt(d.UserID, 10)}
	for _, a := range targets {
		claims = append(claims, "email:"+a, "phone:"+a)
	}
	for _, a := range addrs {
		claims = append(claims, "email:"+a, "phone:"+a)
		// Codes, their pointers and the counters keyed by the address.
		pat := ":" + regexp.QuoteMeta(a) + "([:/#@]|$)"
		if err := s.OTPs.EraseAddress(ctx, a); err != nil {
			return err
		}
		if _, err := s.Ledger.Erase(ctx, pat); err != nil {
			return err
		}
	}
	if _, err := s.Ledger.Erase(ctx, ":"+regexp.QuoteMeta(d.UUID)+"([:/#]|$)"); err != nil {
		return err
	}
	if err := s.Claims.Release(ctx, d.UUID, claims...); err != nil {
		return err
	}
	if err := s.Accounts.Erase(ctx, d.UUID); err != nil {
		return err
	}
	// After the account: a names event handled meanwhile sees it gone
	// (HandleNamesEvent).
	if s.Names == nil {
		return nil
	}
	return s.Names.Erase(ctx, d.UUID)
}

// DeletionsList is the admin API's view of the deletions, newest request
// first; status filters. Support's own tool: a scan of the deletions'
// versions, never on a user's path.
func (s *Service) DeletionsList(ctx context.Context, req contract.DeletionsListRequest) (contract.DeletionsListReply, error) {
	switch req.Status {
	case "", contract.DeletionPending, contract.DeletionPurging, contract.DeletionPurged, contract.DeletionCancelled:
	default:
		return contract.DeletionsListReply{}, contract.FieldError("status", "The status must be pending, purging, purged or cancelled.")
	}
	if req.UserID != 0 {
		return s.deletionOfUser(ctx, req)
	}
	all, err := s.Deletions.All(ctx, 5000)
	if err != nil {
		return contract.DeletionsListReply{}, err
	}
	out := []contract.AdminDeletion{}
	for _, d := range all {
		if req.Status == "" || d.Status == req.Status {
			out = append(out, d.admin())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RequestedAt.After(out[j].RequestedAt) })
	return contract.DeletionsListReply{Deletions: out}, nil
}

// deletionOfUser is the list narrowed to one account: its id's claim
// names the uuid that keys its deletion. An account without one (or
// erased, its claims gone) lists nothing.
func (s *Service) deletionOfUser(ctx context.Context, req contract.DeletionsListRequest) (contract.DeletionsListReply, error) {
	out := contract.DeletionsListReply{Deletions: []contract.AdminDeletion{}}
	owner, err := s.claimOwner(ctx, "uid:"+strconv.FormatInt(req.UserID, 10))
	if errors.Is(err, contract.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	d, _, err := s.Deletions.Get(ctx, owner)
	if errors.Is(err, contract.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	if req.Status == "" || d.Status == req.Status {
		out.Deletions = append(out.Deletions, d.admin())
	}
	return out, nil
}

// CancelDeletion is support's cancel in the grace period: the deletion is
// cancelled (unless its purge won the race) and the account can log in
// again. Its sessions stay revoked: the owner logs in afresh.
func (s *Service) CancelDeletion(ctx context.Context, admin string, req contract.DeletionCancelRequest) (contract.AdminDeletion, error) {
	owner, err := s.claimOwner(ctx, "uid:"+strconv.FormatInt(req.UserID, 10))
	if errors.Is(err, contract.ErrNotFound) {
		return contract.AdminDeletion{}, contract.Errorf(contract.NotFound, "No deletion of this account can be cancelled.")
	}
	if err != nil {
		return contract.AdminDeletion{}, err
	}
	now := s.now()
	d, _, err := s.changeDeletion(ctx, owner, func(d *Deletion, exists bool) (string, []contract.Event, error) {
		switch {
		case !exists:
			return "", nil, contract.Errorf(contract.NotFound, "No deletion of this account can be cancelled.")
		case d.Status == contract.DeletionCancelled:
			return "", nil, nil // a retry: finish below
		case d.Status != contract.DeletionPending:
			return "", nil, contract.Errorf(contract.Conflict, "The purge has started; the deletion can no longer be cancelled.")
		}
		d.Status, d.CancelledAt, d.CancelledBy = contract.DeletionCancelled, &now, admin
		return "cancelled", nil, nil
	})
	if err != nil {
		return contract.AdminDeletion{}, err
	}
	if _, err := s.Accounts.Update(ctx, owner, func(a *Account) ([]contract.Event, error) {
		if a.Deletion == nil || a.Deletion.RequestedAt.After(d.RequestedAt) {
			return nil, errNoChange
		}
		a.Deletion = nil
		return nil, nil
	}); err != nil && !errors.Is(err, errNoChange) {
		return contract.AdminDeletion{}, err
	}
	if err := s.Deletions.Settle(ctx, owner); err != nil {
		return contract.AdminDeletion{}, err
	}
	return d.admin(), nil
}
