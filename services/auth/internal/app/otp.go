package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/natsx"
)

// OTP is one issued code: only its MAC is kept. Its attempts, its use and
// the address's failures live in ledgers, so caps hold under concurrency.
type OTP struct {
	ID        string    `bson:"id"`
	Purpose   string    `bson:"purpose"`
	Address   string    `bson:"address"`
	MAC       []byte    `bson:"mac"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}

func otpKey(purpose, address string) string { return purpose + ":" + address }

// SendCode issues a code for purpose to address over channel, within the
// sending limits; the notifier gets it sealed through the outbox.
func (s *Service) SendCode(ctx context.Context, field, channel, purpose, address, userUUID string) (string, error) {
	code, _, err := s.sendCode(ctx, field, channel, purpose, address, userUUID, s.Limits.CodeLength)
	return code, err
}

// sendCode is SendCode for a code of length digits; it also returns the
// code's id, for a challenge that must be answered by this code only.
func (s *Service) sendCode(ctx context.Context, field, channel, purpose, address, userUUID string, length int) (string, string, error) {
	lim := s.Limits
	if err := s.limitIP(ctx, "send", lim.IPSends); err != nil {
		return "", "", err
	}
	if _, err := s.Ledger.Append(ctx, "send:"+address, func(tail *mongox.Tail, now time.Time) (string, error) {
		last, ok, err := tail.At(0)
		if err != nil {
			return "", err
		}
		if ok {
			if wait := last.At.Add(lim.SendGap).Sub(now); wait > 0 {
				return "", tooMany(field, wait, "Please wait before requesting another code.")
			}
		}
		oldest, ok, err := tail.At(lim.SendsPerHour - 1)
		if err != nil {
			return "", err
		}
		if ok {
			if wait := oldest.At.Add(time.Hour).Sub(now); wait > 0 {
				return "", tooMany(field, wait, "Too many codes requested. Please try again later.")
			}
		}
		return "send", nil
	}); err != nil {
		return "", "", err
	}
	code := NewCode(length)
	now := s.now()
	otp := OTP{
		ID: uuid.NewString(), Purpose: purpose, Address: address,
		MAC: CodeMAC(s.CodeKey, purpose, address, code), CreatedAt: now, ExpiresAt: now.Add(lim.CodeTTL),
	}
	evs := s.event(ctx, contract.EventOTPRequested, contract.OTPRequested{
		Channel: channel, To: address, Purpose: purpose, UserUUID: userUUID, ExpiresAt: otp.ExpiresAt,
		Locale:     natsx.CallerFrom(ctx).Locale,
		SealedCode: s.Box.Seal([]byte(code), []byte(purpose+":"+address)),
	})
	// Each code is its own chain: a new code never inherits or resets the
	// attempts of the last one.
	if err := s.OTPs.Put(ctx, otpKey(purpose, address)+"/"+otp.ID, 0, otp, evs); err != nil {
		return "", "", err
	}
	// The newest code for the address is then found by _id (a query on
	// the codes would scan every code of two days on FerretDB). The send
	// gap keeps two sends to one address from racing for it.
	_, _ = s.OTPs.Collection().UpdateOne(ctx, bson.M{"_id": latestOTPID(purpose, address)},
		bson.M{"$set": bson.M{"otp_id": otp.ID, "at": now, "published": true}}, options.UpdateOne().SetUpsert(true))
	return code, otp.ID, nil
}

func tooMany(field string, wait time.Duration, msg string) error {
	secs := int((wait + time.Second - 1) / time.Second)
	e := contract.RateLimitedFor(secs, msg)
	e.Fields = map[string][]string{field: {msg}}
	return e
}

var errBadCode = errors.New("bad code")

// CheckCode verifies code for purpose and address: at most ChecksPerCode
// checks of one code, at most FailuresPerDay failures per address however
// many codes are requested, single use, constant-time compare.
func (s *Service) CheckCode(ctx context.Context, field, purpose, address, code string) error {
	return s.checkCode(ctx, field, purpose, address, code, func() (OTP, error) { return s.latestOTP(ctx, purpose, address) })
}

// checkCode is CheckCode against the code find returns.
func (s *Service) checkCode(ctx context.Context, field, purpose, address, code string, find func() (OTP, error)) error {
	lim := s.Limits
	invalid := contract.FieldError(field, "The verification code is invalid or has expired.")
	if err := s.limitIP(ctx, "check", lim.IPChecks); err != nil {
		return err
	}
	failKey := "fail:" + address
	fails, err := s.Ledger.Tail(ctx, failKey)
	if err != nil {
		return err
	}
	now := s.now()
	oldest, ok, err := fails.At(lim.FailuresPerDay - 1)
	if err != nil {
		return err
	}
	if ok {
		if wait := oldest.At.Add(24 * time.Hour).Sub(now); wait > 0 {
			return tooMany(field, wait, "Too many failed attempts. Please try again later.")
		}
	}
	otp, err := find()
	if errors.Is(err, mongox.ErrNotFound) || (err == nil && !now.Before(otp.ExpiresAt)) {
		return invalid
	}
	if err != nil {
		return err
	}
	// Claim one of the code's check slots before looking at the code.
	if _, err := s.Ledger.Append(ctx, "try:"+otp.ID, func(tail *mongox.Tail, _ time.Time) (string, error) {
		if _, spent, err := tail.At(lim.ChecksPerCode - 1); err != nil {
			return "", err
		} else if spent {
			return "", contract.FieldError(field, "Too many attempts for this code. Please request a new code.")
		}
		return "try", nil
	}); err != nil {
		return err
	}
	want := otp.MAC
	got := CodeMAC(s.CodeKey, purpose, address, code)
	if subtle.ConstantTimeCompare(want, got) != 1 {
		if _, err := s.Ledger.Append(ctx, failKey, func(*mongox.Tail, time.Time) (string, error) { return "fail", nil }); err != nil {
			return err
		}
		return invalid
	}
	if _, err := s.Ledger.Append(ctx, "used:"+otp.ID, func(tail *mongox.Tail, _ time.Time) (string, error) {
		if !tail.Empty() {
			return "", invalid
		}
		return "used", nil
	}); err != nil {
		return err
	}
	return nil
}

// otpByID finds the code id issued for purpose and address.
func (s *Service) otpByID(ctx context.Context, purpose, address, id string) (OTP, error) {
	otp, _, err := s.OTPs.Get(ctx, otpKey(purpose, address)+"/"+id)
	return otp, err
}

func latestOTPID(purpose, address string) string { return "latest:" + otpKey(purpose, address) }

// latestOTP is the newest code issued for purpose and address.
func (s *Service) latestOTP(ctx context.Context, purpose, address string) (OTP, error) {
	var ptr struct {
		OTPID string `bson:"otp_id"`
	}
	err := s.OTPs.Collection().FindOne(ctx, bson.M{"_id": latestOTPID(purpose, address)}).Decode(&ptr)
	if err == nil {
		return s.otpByID(ctx, purpose, address, ptr.OTPID)
	}
	if err == mongo.ErrNoDocuments {
		return OTP{}, mongox.ErrNotFound
	}
	return OTP{}, mongox.Wrap("latest code", err)
}

func (s *Service) devCode(code string) string {
	if s.Dev {
		return code
	}
	return ""
}
