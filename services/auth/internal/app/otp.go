package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// SendCode issues a code for purpose to address over channel, within the
// sending limits; the notifier gets it sealed through the outbox.
func (s *Service) SendCode(ctx context.Context, field, channel, purpose, address, userUUID string) (string, error) {
	code, _, err := s.sendCode(ctx, field, channel, purpose, address, userUUID, s.Limits.CodeLength)
	return code, err
}

// sendCode is SendCode for a code of length digits; it also returns the
// code's id, for a challenge that must be answered by this code only.
func (s *Service) sendCode(ctx context.Context, field, channel, purpose, address, userUUID string, length int) (string, string, error) {
	code, otp, err := s.issueCode(ctx, codeRequest{field: field, channel: channel, purpose: purpose, address: address, userUUID: userUUID, length: length})
	return code, otp.ID, err
}

// codeRequest is one code to issue; subject binds it (see OTP.Subject).
type codeRequest struct {
	field, channel, purpose, address, subject, userUUID string
	length                                              int
	// silent sends nothing.
	silent bool
	// decoy stores a code that opens nothing (its MAC is no code's), found,
	// checked and counted as a real one is: a stranger's guesses at it get
	// the answers they would get at a real code, so they cannot tell an
	// address that got one from an address that got a real code.
	decoy bool
	// notice, when set, is the template sent in place of the code (the
	// code is then a decoy).
	notice string
}

// sendKind is a send ledger entry's kind: who asked (a keyed digest of the
// client address), for what purpose, the code's id, so that one read of
// the chain finds both the sending limits and the address's live codes,
// and the call that asked (natsx.Caller.Call), so that a copy of that
// call is told from a new request.
func sendKind(client, purpose, otpID, call string) string {
	return "s|" + client + "|" + purpose + "|" + otpID + "|" + call
}

// sendEntry is a send ledger entry's kind, read.
type sendEntry struct{ client, purpose, otpID, call string }

// parseSendKind reads sendKind; entries written before it ("send") have
// no client, purpose or code, and those before the call none.
func parseSendKind(kind string) sendEntry {
	parts := strings.SplitN(kind, "|", 5)
	if len(parts) < 4 || parts[0] != "s" {
		return sendEntry{}
	}
	e := sendEntry{client: parts[1], purpose: parts[2], otpID: parts[3]}
	if len(parts) == 5 {
		e.call = parts[4]
	}
	return e
}

// clientTag is a short keyed digest of the caller's address (an IPv6
// one's /64, contract.Client.Network): limits can be kept per client
// without the ledger holding addresses in the clear.
func (s *Service) clientTag(ctx context.Context) string {
	ip := natsx.CallerFrom(ctx).Network()
	if ip == "" {
		return "-"
	}
	m := hmac.New(sha256.New, s.CodeKey)
	m.Write([]byte("client:" + ip))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// allowSend takes one send slot for address: at most SendsPerHour an hour
// and one per SendGap from one client, and at most AddressSendsPerHour an
// hour from everyone. The per-client limits are the ones a user meets; the
// address-wide cap only bounds how many messages one address can be sent,
// and a stranger needs several client addresses to reach it, so one
// stranger asking for codes cannot stop the owner getting theirs. The
// address-wide cap counts the sends anyone may ask for (registration, a
// forgotten PIN) apart from those only a secret can (a 2FA login needs
// the PIN; a contact change or 2FA setup a session): strangers who fill
// the first from a few client addresses cannot stop a 2FA owner's login.
//
// It returns the code id of the send this one is a copy of, if it is one.
func (s *Service) allowSend(ctx context.Context, field, address, kind string) (string, error) {
	lim := s.Limits
	asked := parseSendKind(kind)
	guarded := behindSecret(asked.purpose)
	var firstID string // of the send this one is a copy of
	_, err := s.Ledger.Append(ctx, "send:"+address, func(tail domain.Tail, now time.Time) (string, error) {
		firstID = ""
		// An hour holds at most the cap of each kind.
		recent, err := tail.First(2 * max(lim.AddressSendsPerHour, lim.SendsPerHour))
		if err != nil {
			return "", err
		}
		mine, same := 0, 0
		for _, e := range recent {
			if now.Sub(e.At) >= time.Hour {
				break
			}
			sent := parseSendKind(e.Kind)
			if behindSecret(sent.purpose) == guarded {
				if same++; same >= lim.AddressSendsPerHour {
					return "", tooMany(overSendLimit(address), field, e.At.Add(time.Hour).Sub(now), "Too many codes requested. Please try again later.")
				}
			}
			if sent.client != asked.client {
				continue
			}
			// A copy of the call that made this client's newest send
			// (its caller sent it again, having heard nothing: see
			// natsx/receipt.go) is that request, not a new one, so it
			// is not too soon; it is a send, so the caps count it.
			copied := s.copyOf(ctx, sent.call, e.At)
			if mine == 0 && copied && sent.purpose == asked.purpose {
				firstID = sent.otpID
			}
			if mine == 0 && !copied {
				if wait := e.At.Add(lim.SendGap).Sub(now); wait > 0 {
					return "", tooMany(contract.ReasonOTPSendTooSoon, field, wait, "Please wait before requesting another code.")
				}
			}
			if mine++; mine >= lim.SendsPerHour {
				return "", tooMany(overSendLimit(address), field, e.At.Add(time.Hour).Sub(now), "Too many codes requested. Please try again later.")
			}
		}
		return kind, nil
	})
	return firstID, err
}

// behindSecret says whether a code of purpose can only be asked for with a
// secret: the PIN (a 2FA login) or a session (a contact change, 2FA setup).
func behindSecret(purpose string) bool {
	switch purpose {
	case contract.PurposeLogin2FA, contract.PurposeProfile2FA, contract.PurposeChangeEmail, contract.PurposeChangePhone:
		return true
	}
	return false
}

func (s *Service) issueCode(ctx context.Context, r codeRequest) (string, domain.OTP, error) {
	lim := s.Limits
	if err := s.limitIP(ctx, "send", lim.IPSends); err != nil {
		return "", domain.OTP{}, err
	}
	id := uuid.NewString()
	firstID, err := s.allowSend(ctx, r.field, r.address, sendKind(s.clientTag(ctx), r.purpose, id, natsx.CallerFrom(ctx).Call))
	if err != nil {
		return "", domain.OTP{}, err
	}
	if firstID != "" {
		// A copy of a send: its first run sent the message (or is sending
		// it), so the copy's code goes nowhere; the first one still opens
		// the same subject. One message per request, however often its
		// caller sent it (CI counted a mail more than it had answers).
		r.silent, r.notice = true, ""
	}
	code := NewCode(r.length)
	now := s.now()
	otp := domain.OTP{
		ID: id, Purpose: r.purpose, Address: r.address, Subject: r.subject,
		MAC: CodeMAC(s.CodeKey, r.purpose, r.address, code), CreatedAt: now, ExpiresAt: now.Add(lim.CodeTTL),
	}
	if r.decoy || r.notice != "" {
		otp.MAC = decoyMAC()
	}
	var evs []contract.Event
	switch {
	case r.silent:
	case r.notice != "":
		evs = s.event(ctx, contract.EventNotificationWanted, contract.NotificationWanted{
			Channel: r.channel, To: r.address, Template: r.notice, Locale: natsx.CallerFrom(ctx).Locale,
		})
	default:
		evs = s.event(ctx, contract.EventOTPRequested, contract.OTPRequested{
			Channel: r.channel, To: r.address, Purpose: r.purpose, UserUUID: r.userUUID, ExpiresAt: otp.ExpiresAt,
			Locale:     natsx.CallerFrom(ctx).Locale,
			SealedCode: s.Box.Seal([]byte(code), []byte(r.purpose+":"+r.address)),
		})
	}
	// The send gap keeps two sends to one address from racing to be its
	// newest code.
	if err := s.OTPs.Issue(ctx, otp, evs); err != nil {
		return "", domain.OTP{}, err
	}
	return code, otp, nil
}

// decoyMAC is the MAC of a code that opens nothing: random, and as long as
// a real one, so comparing with it costs the same.
func decoyMAC() []byte {
	mac := make([]byte, sha256.Size)
	_, _ = rand.Read(mac) // crypto/rand never fails (Go 1.24)
	return mac
}

// codeOrNotice issues r's code, or, for an address that already belongs
// to an account, the "account_exists" notice in its place and a decoy
// code, within the same sending limits and in the same writes: the
// caller's answers, to the send and to every guess after it, are the same
// either way (the code answered in dev mode opens nothing).
func (s *Service) codeOrNotice(ctx context.Context, taken bool, r codeRequest) (string, error) {
	if taken {
		r.notice = "account_exists"
	}
	code, _, err := s.issueCode(ctx, r)
	return code, err
}

// recentCodes are the newest codes sent to address for purpose that a
// check still recognises (live, or expired within ExpiredLookback), newest
// first, at most MaxLiveCodes: several registration attempts may be
// pending for one address, each with its own code.
func (s *Service) recentCodes(ctx context.Context, purpose, address string) ([]domain.OTP, error) {
	recent, err := s.within(ctx, "send:"+address, s.Limits.CodeTTL+ExpiredLookback)
	if err != nil {
		return nil, err
	}
	var out []domain.OTP
	for _, e := range recent {
		if len(out) == MaxLiveCodes {
			break
		}
		sent := parseSendKind(e.Kind)
		if sent.purpose != purpose {
			continue
		}
		otp, err := s.otpByID(ctx, purpose, address, sent.otpID)
		if errors.Is(err, contract.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if s.recognised(otp) {
			out = append(out, otp)
		}
	}
	return out, nil
}

// recognised says whether a check compares a code with otp: while it
// lives, and for ExpiredLookback after, to tell its holder otp_expired.
func (s *Service) recognised(otp domain.OTP) bool {
	return s.now().Before(otp.ExpiresAt.Add(ExpiredLookback))
}

// within is key's chain entries younger than age, newest first, as far as
// one read reaches (domain.RecentAttempts).
func (s *Service) within(ctx context.Context, key string, age time.Duration) ([]domain.Attempt, error) {
	tail, err := s.Ledger.Tail(ctx, key)
	if err != nil {
		return nil, err
	}
	recent, err := tail.First(domain.RecentAttempts)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for i, e := range recent {
		if now.Sub(e.At) >= age {
			return recent[:i], nil
		}
	}
	return recent, nil
}

// MaxLiveCodes bounds the codes one check compares against: each one
// multiplies a guess's odds, so the failure caps allow for it (see docs/security.md).
const MaxLiveCodes = 3

func tooMany(reason contract.Reason, field string, wait time.Duration, msg string) error {
	e := contract.RateLimitedWait(wait, msg).Because(reason)
	e.Fields = map[string][]string{field: {msg}}
	return e
}

// overSendLimit is the code of an address's hourly sending cap, by channel.
func overSendLimit(address string) contract.Reason {
	if strings.Contains(address, "@") {
		return contract.ReasonOverEmailSendRateLimit
	}
	return contract.ReasonOverSMSSendRateLimit
}

var errBadCode = errors.New("bad code")

// CheckCode verifies code for purpose and address against the newest code
// sent there: at most ChecksPerCode checks of one code, the failure caps of
// checkCodes, single use, constant-time compare.
func (s *Service) CheckCode(ctx context.Context, field, purpose, address, code string) error {
	return s.checkCode(ctx, field, purpose, address, code, func() (domain.OTP, error) { return s.latestOTP(ctx, purpose, address) })
}

// checkCode is CheckCode against the code find returns.
func (s *Service) checkCode(ctx context.Context, field, purpose, address, code string, find func() (domain.OTP, error)) error {
	otp, err := find()
	if errors.Is(err, contract.ErrNotFound) {
		err = nil
	}
	if err != nil {
		return err
	}
	set := codeSet{failKey: failKey(purpose, address)}
	if otp.ID != "" && s.recognised(otp) {
		set.codes = []domain.OTP{otp}
	}
	_, err = s.checkCodes(ctx, field, []codeSet{set}, code)
	return err
}

// ExpiredLookback is how long past its lifetime a code is still recognised
// to say otp_expired instead of otp_invalid.
const ExpiredLookback = time.Hour

// errExpired is the answer to a code that was right but is past its
// lifetime. It is given only to a caller who typed that very code, and a
// guess at expired codes costs what a guess at live ones does (checkCodes),
// so it tells a stranger whether a code was ever sent to an address only
// as often as the failure caps let them guess a live one.
func errExpired(field string) error {
	return contract.FieldError(field, "The verification code has expired. Please request a new code.").Because(contract.ReasonOTPExpired)
}

// codeSet is what one check may compare a guess with at one address: the
// codes checkCodes is to consider (recentCodes, those the caller's step
// may use), and the key the address's failures count under.
type codeSet struct {
	failKey string
	codes   []domain.OTP
}

// candidate is a code a check compares with, and the set it came from.
type candidate struct {
	set  int
	otp  domain.OTP
	live bool
}

// candidates are the codes of the sets not left out, at most
// MaxLiveCodes, live ones first, each set's newest first.
func (s *Service) candidates(sets []codeSet, left []bool) []candidate {
	now := s.now()
	var live, late []candidate
	for i, set := range sets {
		if left[i] {
			continue
		}
		for _, otp := range set.codes {
			if now.Before(otp.ExpiresAt) {
				live = append(live, candidate{set: i, otp: otp, live: true})
			} else {
				late = append(late, candidate{set: i, otp: otp})
			}
		}
	}
	all := append(live, late...)
	return all[:min(len(all), MaxLiveCodes)]
}

// checkCodes verifies code against the codes of sets and returns the live
// one it matched; an expired one that matches is answered otp_expired.
// Before anything is compared, the check takes a failure slot on every
// address it compares codes of (at most ClientFailuresPerDay a day from
// one client, FailuresPerDay from all) and a check slot on every code
// (ChecksPerCode each), expired ones as live ones, so a guess at expired
// codes costs what any guess does. A match, or an address whose codes were
// not compared, gives its failure slot back, so only failures count. An
// address whose cap is full drops out: its codes are not compared (the
// cap holds them), and the others are checked as if it were not there,
// so a stranger who fills the cap of an address that joins an owner's
// check (a phone sent a code for the owner's email) cannot block it; only
// when every address is full is the check refused. Slots are unique
// inserts in ledgers, so N concurrent guesses never get more checks than
// the caps.
func (s *Service) checkCodes(ctx context.Context, field string, sets []codeSet, code string) (domain.OTP, error) {
	lim := s.Limits
	invalid := contract.FieldError(field, "The verification code is invalid or has expired.").Because(contract.ReasonOTPInvalid)
	if err := s.limitIP(ctx, "check", lim.IPChecks); err != nil {
		return domain.OTP{}, err
	}
	client := s.clientTag(ctx)
	claimed := make([]bool, len(sets))
	release := func(keep func(set int) bool) {
		for i, ok := range claimed {
			if ok && !keep(i) {
				s.giveBackFailure(ctx, sets[i].failKey, client)
				claimed[i] = false
			}
		}
	}
	all := func(int) bool { return false }
	// Leaving a full address out makes room for another's codes, which
	// then need their own slot: at most one round per set.
	left := make([]bool, len(sets))
	var refused error
	cands := s.candidates(sets, left)
	for i := 0; i < len(cands); {
		c := cands[i]
		if claimed[c.set] {
			i++
			continue
		}
		err := s.claimFailure(ctx, field, sets[c.set].failKey, client)
		if contract.ErrorCode(err) == contract.RateLimited {
			left[c.set] = true
			if refused == nil {
				refused = err
			}
			cands, i = s.candidates(sets, left), 0
			continue
		}
		if err != nil {
			release(all)
			return domain.OTP{}, err
		}
		claimed[c.set] = true
		i++
	}
	if len(cands) == 0 {
		if refused != nil {
			return domain.OTP{}, refused
		}
		// Nothing to compare, nothing failed.
		return domain.OTP{}, invalid
	}
	// A code whose checks are spent drops out; the newer ones stay.
	spent := contract.FieldError(field, "Too many attempts for this code. Please request a new code.").Because(contract.ReasonOTPAttemptsExceeded)
	open, spentLive := cands[:0:0], false
	for _, c := range cands {
		_, err := s.Ledger.Append(ctx, "try:"+c.otp.ID, func(tail domain.Tail, _ time.Time) (string, error) {
			if _, full, err := tail.At(lim.ChecksPerCode - 1); err != nil {
				return "", err
			} else if full {
				return "", spent
			}
			return "try", nil
		})
		if err == spent {
			spentLive = spentLive || c.live
			continue
		}
		if err != nil {
			release(all)
			return domain.OTP{}, err
		}
		open = append(open, c)
	}
	// An address none of whose codes is compared has not failed.
	release(func(set int) bool {
		return slices.ContainsFunc(open, func(c candidate) bool { return c.set == set })
	})
	if len(open) == 0 {
		if spentLive {
			return domain.OTP{}, spent
		}
		return domain.OTP{}, invalid
	}
	match, late := -1, -1
	for i, c := range open {
		got := CodeMAC(s.CodeKey, c.otp.Purpose, c.otp.Address, code)
		if subtle.ConstantTimeCompare(c.otp.MAC, got) == 1 {
			switch {
			case c.live && match < 0:
				match = i
			case !c.live && late < 0:
				late = i
			}
		}
	}
	if match < 0 && late >= 0 {
		// Right but too late: its holder has not failed.
		release(all)
		return domain.OTP{}, errExpired(field)
	}
	if match < 0 {
		return domain.OTP{}, invalid
	}
	otp := open[match].otp
	// A code is spent once, by the call that used it: a copy of that call
	// (see copyOf) finds it spent by itself, and goes on as it did.
	call := natsx.CallerFrom(ctx).Call
	if _, err := s.Ledger.Append(ctx, "used:"+otp.ID, func(tail domain.Tail, _ time.Time) (string, error) {
		if !tail.Empty() {
			if e, ok, err := tail.At(0); err == nil && ok && s.copyOf(ctx, strings.TrimPrefix(e.Kind, "used|"), e.At) {
				return "", errCopy
			}
			return "", invalid
		}
		return "used|" + call, nil
	}); err != nil && !errors.Is(err, errCopy) {
		return domain.OTP{}, err
	}
	release(all)
	return otp, nil
}

// errCopy: what a step would write was written by the call this request
// is a copy of.
var errCopy = errors.New("written by this call already")

// copyWindow is how long after a call ran a copy of it is still taken for
// one: its caller sends copies only within its own timeout.
const copyWindow = time.Minute

// copyOf says whether this request is a copy of the call recorded as call
// at at: its caller's natsx sent it again for want of a receipt, the
// receipt and answer of the run at at having been lost with the replica's
// connection. Such a copy is answered as the first run would have been,
// not refused for finding its own writes (a code spent, an account
// active). The id vouches for nothing, so a copy gets only what the
// request it copies got.
func (s *Service) copyOf(ctx context.Context, call string, at time.Time) bool {
	mine := natsx.CallerFrom(ctx).Call
	return mine != "" && mine == call && s.now().Sub(at) < copyWindow
}

// otpByID finds the code id issued for purpose and address.
func (s *Service) otpByID(ctx context.Context, purpose, address, id string) (domain.OTP, error) {
	return s.OTPs.Get(ctx, purpose, address, id)
}

// latestOTP is the newest code issued for purpose and address.
func (s *Service) latestOTP(ctx context.Context, purpose, address string) (domain.OTP, error) {
	return s.OTPs.Newest(ctx, purpose, address)
}

func (s *Service) devCode(code string) string {
	if s.Dev {
		return code
	}
	return ""
}

// CodeMAC binds a one-time code to its purpose and address under a server
// secret; only the MAC is stored.
func CodeMAC(secret []byte, purpose, address, code string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose + "\x00" + address + "\x00" + code))
	return m.Sum(nil)
}

// NewCode returns a uniformly random numeric code.
func NewCode(length int) string {
	var b strings.Builder
	for range length {
		n, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic(err)
		}
		b.WriteByte(byte('0' + n.Int64()))
	}
	return b.String()
}
