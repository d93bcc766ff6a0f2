package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/logx"
)

// MaxAmount bounds one posting (in minor units), so no sum of them can
// overflow.
const MaxAmount = 1_000_000_000_000

// errIDReused is an idempotency id already stored with other content.
var errIDReused = contract.FieldError("id", "This id was already used for a different posting.")

// ValidateWallet checks a wallet posting, naming every bad field.
func ValidateWallet(w contract.WalletPosted) error {
	var v contract.Validation
	checkID(&v, "id", w.ID)
	if w.UserID <= 0 {
		v.Add("user_id", "The user id must be a positive number.")
	}
	switch w.Balance {
	case contract.BalanceCashback, contract.BalanceTSSMoney, contract.BalanceTSSPoints:
	case "":
		v.Add("balance", "The balance field is required.")
	default:
		v.Add("balance", "The balance must be one of cashback, tss_money, tss_points.")
	}
	switch w.Entry {
	case contract.EntryCredit:
	case contract.EntryDebit:
		if w.ExpiresAt != nil {
			v.Add("expires_at", "Only a credit can expire.")
		}
	case "":
		v.Add("entry", "The entry field is required.")
	default:
		v.Add("entry", "The entry must be credit or debit.")
	}
	checkAmount(&v, w.Amount, false)
	return v.Err()
}

// ValidateOrder checks an order posting, naming every bad field.
func ValidateOrder(o contract.OrderPosted) error {
	var v contract.Validation
	checkID(&v, "id", o.ID)
	checkID(&v, "order_id", o.OrderID)
	if o.UserID <= 0 {
		v.Add("user_id", "The user id must be a positive number.")
	}
	switch o.Status {
	case contract.OrderPlaced, contract.OrderCompleted, contract.OrderCancelled:
	case "":
		v.Add("status", "The status field is required.")
	default:
		v.Add("status", "The status must be one of placed, completed, cancelled.")
	}
	checkAmount(&v, o.Amount, true)
	return v.Err()
}

func checkID(v *contract.Validation, field, id string) {
	switch {
	case id == "":
		v.Add(field, "The "+field+" field is required.")
	case len(id) > 128 || strings.IndexFunc(id, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) >= 0:
		v.Add(field, "The "+field+" must be at most 128 printable ASCII characters.")
	}
}

func checkAmount(v *contract.Validation, amount int64, zeroOK bool) {
	switch {
	case amount < 0 || (amount == 0 && !zeroOK):
		v.Add("amount", "The amount must be a positive number of hundredths.")
	case amount > MaxAmount:
		v.Add("amount", "The amount is too large.")
	}
}

func walletPosting(w contract.WalletPosted, received time.Time) Posting {
	p := Posting{
		ID: postingWallet + ":" + w.ID, UserID: w.UserID, Kind: postingWallet, Balance: w.Balance, Entry: w.Entry,
		Amount: w.Amount, ExpiresAt: w.ExpiresAt, Reason: w.Reason, At: w.At.UTC(), Received: received,
	}
	if p.ExpiresAt != nil {
		e := p.ExpiresAt.UTC().Truncate(time.Millisecond) // what the store keeps
		p.ExpiresAt = &e
	}
	exp := ""
	if p.ExpiresAt != nil {
		exp = p.ExpiresAt.Format(time.RFC3339Nano)
	}
	p.Digest = digest(p.UserID, p.Balance, p.Entry, p.Amount, exp)
	return p
}

func orderPosting(o contract.OrderPosted, received time.Time) Posting {
	return Posting{
		ID: postingOrder + ":" + o.ID, UserID: o.UserID, Kind: postingOrder, OrderID: o.OrderID, Status: o.Status,
		Amount: o.Amount, At: o.At.UTC(), Received: received,
		Digest: digest(o.UserID, o.OrderID, o.Status, o.Amount),
	}
}

func digest(parts ...any) string {
	sum := sha256.Sum256([]byte(fmt.Sprintln(parts...)))
	return hex.EncodeToString(sum[:])
}

// store inserts a posting once; duplicate is true when its id was stored
// before, and errIDReused when that was with other content.
func (s *Service) store(ctx context.Context, p Posting) (duplicate bool, err error) {
	old, err := s.Postings.Add(ctx, p)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrExists) {
		return false, err
	}
	if old.Digest != p.Digest {
		return true, errIDReused
	}
	return true, nil
}

// Figures projects a user's postings as of now.
func (s *Service) Figures(ctx context.Context, userID int64) (Figures, error) {
	ps, err := s.Postings.OfUser(ctx, userID)
	if err != nil {
		return Figures{}, err
	}
	return Project(ps, s.now()), nil
}

// PostWallet is the admin API's wallet posting: checked, stored once, and
// published as the same event the other systems send, for whoever else
// follows the stream (profile's own consumer sees a duplicate).
func (s *Service) PostWallet(ctx context.Context, w contract.WalletPosted) (contract.WalletPostReply, error) {
	if err := ValidateWallet(w); err != nil {
		return contract.WalletPostReply{}, err
	}
	now := s.now()
	if w.At.IsZero() {
		w.At = now
	}
	p := walletPosting(w, now)
	dup, f, err := s.admit(ctx, p, contract.EventWalletPosted, w)
	if err != nil {
		return contract.WalletPostReply{}, err
	}
	short := s.flag(ctx, p, f)
	return contract.WalletPostReply{
		ID: w.ID, Duplicate: dup, Shortfall: contract.Amount(short), Flagged: short > 0,
		Cashback:  contract.Amount(f.Balances[contract.BalanceCashback].Available),
		TSSMoney:  contract.Amount(f.Balances[contract.BalanceTSSMoney].Available),
		TSSPoints: contract.Amount(f.Balances[contract.BalanceTSSPoints].Available),
	}, nil
}

// PostOrder is PostWallet for orders.
func (s *Service) PostOrder(ctx context.Context, o contract.OrderPosted) (contract.OrderPostReply, error) {
	if err := ValidateOrder(o); err != nil {
		return contract.OrderPostReply{}, err
	}
	now := s.now()
	if o.At.IsZero() {
		o.At = now
	}
	dup, f, err := s.admit(ctx, orderPosting(o, now), contract.EventOrderPosted, o)
	if err != nil {
		return contract.OrderPostReply{}, err
	}
	return contract.OrderPostReply{ID: o.ID, Duplicate: dup, OrderCount: f.OrderCount,
		TotalSpending: contract.Amount(f.TotalSpending), SuccessfulOrders: f.SuccessfulOrders}, nil
}

// admit stores an admin posting for an existing user, publishes it, and
// projects the user's figures after it.
func (s *Service) admit(ctx context.Context, p Posting, eventType string, data any) (bool, Figures, error) {
	if err := s.Users.EnsureProfile(ctx, p.UserID); err != nil {
		return false, Figures{}, err
	}
	dup, err := s.store(ctx, p)
	if err != nil {
		return dup, Figures{}, err
	}
	if err := s.publish(ctx, eventType, p.ID, data); err != nil {
		return dup, Figures{}, err
	}
	f, err := s.Figures(ctx, p.UserID)
	return dup, f, err
}

// publish sends an admin posting to the stream; the event id is derived
// from the posting's, so a retried call is stored once by JetStream too.
func (s *Service) publish(ctx context.Context, eventType, postingID string, data any) error {
	if s.Publish == nil {
		return nil
	}
	ev, err := events.New(ctx, eventType, data)
	if err != nil {
		return err
	}
	ev.ID = postingID
	if err := s.Publish(ctx, ev); err != nil {
		return &contract.Error{Code: contract.Unavailable, Message: "The service is temporarily unavailable. Please try again shortly.", RetryAfter: 1, Op: "posting publish", Err: err}
	}
	return nil
}

// flag records a debit's shortfall on its posting and in the log: the
// debit is kept (it happened elsewhere), the balance stays at zero, and
// someone has to look at it. Only the writer of the posting sets it.
func (s *Service) flag(ctx context.Context, p Posting, f Figures) int64 {
	short := f.Shortfalls[p.ID]
	if short == 0 {
		return 0
	}
	logx.From(ctx).Warn("debit beyond balance", zap.String("posting", p.ID), zap.Int64("user_id", p.UserID),
		zap.String("balance", p.Balance), zap.Int64("shortfall", short))
	if err := s.Postings.SetShortfall(ctx, p.ID, short); err != nil {
		logx.From(ctx).Warn("record shortfall", zap.String("posting", p.ID), zap.Error(err))
	}
	return short
}

// HandlePosting is the consumer of the wallet and order events other
// systems publish. A bad event is dead-lettered; a duplicate is
// acknowledged and counts once.
func (s *Service) HandlePosting(ctx context.Context, ev contract.Event) error {
	var p Posting
	switch ev.Type {
	case contract.EventWalletPosted:
		w, err := decodePosting(ev, func(w *contract.WalletPosted) *time.Time { return &w.At }, ValidateWallet)
		if err != nil {
			return err
		}
		p = walletPosting(w, s.now())
	case contract.EventOrderPosted:
		o, err := decodePosting(ev, func(o *contract.OrderPosted) *time.Time { return &o.At }, ValidateOrder)
		if err != nil {
			return err
		}
		p = orderPosting(o, s.now())
	default:
		return nil
	}
	dup, err := s.store(ctx, p)
	if errors.Is(err, errIDReused) {
		logx.From(ctx).Warn("posting id reused with other content; ignored", zap.String("posting", p.ID))
		return nil
	}
	if err != nil || dup || p.Entry != contract.EntryDebit {
		return err
	}
	f, err := s.Figures(ctx, p.UserID)
	if err != nil {
		return nil // stored; the flag is only a record
	}
	s.flag(ctx, p, f)
	return nil
}

// decodePosting reads an event's posting, dated by the event when it says
// nothing; one that cannot be read or is invalid is permanent (no retry
// can fix it).
func decodePosting[T any](ev contract.Event, at func(*T) *time.Time, validate func(T) error) (T, error) {
	var v T
	if err := ev.Decode(&v); err != nil {
		return v, errors.Join(events.ErrPermanent, err)
	}
	if t := at(&v); t.IsZero() {
		*t = ev.Time
	}
	if err := validate(v); err != nil {
		return v, errors.Join(events.ErrPermanent, err)
	}
	return v, nil
}
