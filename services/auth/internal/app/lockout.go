package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dossapp/backend/pkg/contract"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// The PIN lockout that a stranger cannot aim at the owner. A device that
// logged in to the account before (a trusted device, known by a keyed hash
// of the push token the app sends) has a failure counter of its own; every
// other attempt on a phone, whatever device or address it claims, shares
// one hard cap per phone. Only failed checks count.

// pinScope is the counter a secret's check is charged to.
type pinScope struct {
	key     string
	trusted bool
}

func unknownDevices(phone string) pinScope { return pinScope{key: "unknown:" + phone} }

func trustedDevice(accUUID, mac string) pinScope {
	return pinScope{key: "device:" + accUUID + ":" + mac, trusted: true}
}

func (sc pinScope) failures() string { return "pinfail:" + sc.key }

// errUntrusted: the trusted device failed too often in a row and is, until
// it gets the secret right, one more unknown device.
var errUntrusted = errors.New("device no longer trusted")

// deviceMAC is what the store keeps of a device's push token: an HMAC
// under a key derived from the server's code secret, bound to the
// account. The token is no secret to its device's owner, but a stranger
// who only knows the phone number does not have it.
func (s *Service) deviceMAC(accUUID, token string) string {
	if token == "" {
		return ""
	}
	k := hmac.New(sha256.New, s.CodeKey)
	k.Write([]byte("doss device trust v1"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(accUUID + "\x00" + token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (a Account) trusts(mac string) bool { return mac != "" && slices.Contains(a.TrustedDevices, mac) }

// trust adds a device that just logged in to the account's trusted ones,
// keeping the newest max.
func (a *Account) trust(mac string, max int) {
	if mac == "" || a.trusts(mac) {
		return
	}
	a.TrustedDevices = append([]string{mac}, a.TrustedDevices...)
	a.TrustedDevices = a.TrustedDevices[:min(len(a.TrustedDevices), max)]
}

// checkSecret checks acc's secret (check does the comparison) for a
// request from device, under that device's lockout when acc trusts it and
// the phone's shared one otherwise. acc is nil for a phone without an
// account: check must then do the same work, and the lockout is the same.
// also are entries the request adds to other limits (its address's count),
// appended with the check's turn.
func (s *Service) checkSecret(ctx context.Context, acc *Account, phone, device, field string, check func() bool, also ...domain.Appending) (bool, error) {
	if acc != nil {
		if mac := s.deviceMAC(acc.UUID, device); acc.trusts(mac) {
			own := trustedDevice(acc.UUID, mac)
			ok, left, err := s.checkPIN(ctx, own, field, check, also)
			if !errors.Is(err, errUntrusted) {
				return ok, err
			}
			ok, _, err = s.checkPIN(ctx, unknownDevices(phone), field, check, left)
			if ok {
				// The right secret gives the device its trust back.
				s.appendPIN(ctx, own.failures(), pinOK)
			}
			return ok, err
		}
	}
	ok, _, err := s.checkPIN(ctx, unknownDevices(phone), field, check, also)
	return ok, err
}

// The kinds of a PIN chain's entries. A check first appends its turn,
// then its outcome: the turn, a unique insert of the chain's next number
// (the one atomic write FerretDB v1 has), is what makes the checks of one
// scope take turns across replicas, and the outcome ends it.
const (
	pinTurn = "turn"
	pinFail = "fail"
	pinOK   = "ok"
)

// pinTurnStale is when a turn whose outcome never came (a process that
// died mid-check) stops holding the scope; a check takes milliseconds.
const pinTurnStale = 30 * time.Second

// pinTurnWait bounds the wait for a turn.
const pinTurnWait = 10 * time.Second

// errTurnTaken: another check of the scope is between its turn and its
// outcome.
var errTurnTaken = errors.New("pin check in progress")

// checkPIN runs check under sc's lockout. The checks of one scope take
// turns: a check's turn is appended on the failures as they are (so a
// scope already locked out is refused before any work), and no turn is
// given while another is open, so however many run at once, no more are
// checked than the cap allows, and only a failed check is recorded as a
// failure (the right secret sent N times at once gets through N times).
// also are appended with the turn; the ones still to append are returned
// when the scope's device is no longer trusted (errUntrusted).
func (s *Service) checkPIN(ctx context.Context, sc pinScope, field string, check func() bool, also []domain.Appending) (bool, []domain.Appending, error) {
	ctx, cancel := context.WithTimeout(ctx, pinTurnWait)
	defer cancel()
	busy := func(err error) error {
		if ctx.Err() != nil {
			return contract.Errorf(contract.Unavailable, "Too many logins at once. Please try again.")
		}
		return err
	}
	// This process's checks of sc queue here, with no store traffic.
	leave, err := s.turns.take(ctx, sc.key)
	if err != nil {
		return false, also, busy(err)
	}
	defer leave()
	key := sc.failures()
	turn := domain.Appending{Key: key, Decide: func(tail domain.Tail, now time.Time) (string, error) {
		if err := s.pinRefused(tail, sc, field); err != nil {
			return "", err
		}
		if err := turnOpen(tail, now); err != nil {
			return "", err
		}
		if sc.trusted {
			return pinTurn, nil
		}
		// The turn carries the failures that count before it, so a later
		// count stops at it however many successes the day held.
		fails, err := s.unknownFailures(tail, now)
		if err != nil {
			return "", err
		}
		return turnKind(fails), nil
	}}
	var appended []string // the counters whose heads move in one write at the end
	defer func() { s.Ledger.MoveHeads(ctx, appended...) }()
	for pause := 2 * time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		got, err := s.Ledger.AppendAllHeadsLater(ctx, append(slices.Clone(also), turn)...)
		appended = append(appended, storedKeys(got)...)
		also = slices.DeleteFunc(also, func(a domain.Appending) bool {
			return slices.ContainsFunc(got, func(e domain.Attempt) bool { return e.Seq > 0 && e.Key == a.Key })
		})
		if err == nil {
			break
		}
		if errors.Is(err, errUntrusted) {
			return false, also, err
		}
		if !errors.Is(err, errTurnTaken) {
			var ce *contract.Error
			if len(also) > 0 && errors.As(err, &ce) && ce.Code == contract.RateLimited && ce.Reason == contract.ReasonPINLocked {
				// A refused check still counts towards its other limits, and
				// theirs is the answer when one of them refuses too.
				more, aerr := s.Ledger.AppendAllHeadsLater(ctx, also...)
				appended = append(appended, storedKeys(more)...)
				if aerr != nil {
					return false, nil, aerr
				}
			}
			return false, nil, err
		}
		select {
		case <-ctx.Done():
			return false, nil, busy(ctx.Err())
		case <-time.After(pause):
		}
		// The open turn was seen in this process's memory of the chain,
		// which only a read brings its outcome into.
		if _, err := s.Ledger.Tail(ctx, key); err != nil {
			return false, nil, busy(err)
		}
	}
	right := check()
	outcome := pinFail
	if right {
		outcome = pinOK
	}
	// The outcome is the holder's to write whatever the chain holds now.
	got, err := s.Ledger.AppendAllHeadsLater(context.WithoutCancel(ctx), domain.Appending{Key: key, Decide: func(domain.Tail, time.Time) (string, error) { return outcome, nil }})
	appended = append(appended, storedKeys(got)...)
	if err != nil {
		return false, nil, err
	}
	return right, nil, nil
}

// storedKeys are the counters of the attempts that were stored.
func storedKeys(as []domain.Attempt) []string {
	var keys []string
	for _, a := range as {
		if a.Seq > 0 {
			keys = append(keys, a.Key)
		}
	}
	return keys
}

// appendPIN records kind on a PIN chain outside a check (a reset, a trust
// given back), after any check in progress, so it cannot end a turn that
// is not its own.
func (s *Service) appendPIN(ctx context.Context, key, kind string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pinTurnWait)
	defer cancel()
	for pause := 2 * time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		_, err := s.Ledger.Append(ctx, key, func(tail domain.Tail, now time.Time) (string, error) {
			if err := turnOpen(tail, now); err != nil {
				return "", err
			}
			return kind, nil
		})
		if !errors.Is(err, errTurnTaken) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		if _, err := s.Ledger.Tail(ctx, key); err != nil {
			return
		}
	}
}

// turnOpen is errTurnTaken while the chain's newest entry is a turn whose
// holder may still be checking.
func turnOpen(tail domain.Tail, now time.Time) error {
	newest, ok, err := tail.At(0)
	if err != nil {
		return err
	}
	if ok && isTurn(newest.Kind) && now.Sub(newest.At) < pinTurnStale {
		return errTurnTaken
	}
	return nil
}

// outcomes are a PIN chain's entries without the turns, newest first.
func outcomes(tail domain.Tail, n int) ([]domain.Attempt, error) {
	entries, err := tail.First(n)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(entries, func(e domain.Attempt) bool { return isTurn(e.Kind) }), nil
}

// lockout reads a PIN chain's tail (newest first): the failures since the
// last success, and how long the key stays locked. Every PINFailures-th
// consecutive failure locks it, twice as long as the time before.
func lockout(tail []domain.Attempt, now time.Time, lim Limits) (int, time.Duration) {
	consecutive := 0
	for _, e := range tail {
		if e.Kind == "ok" {
			break
		}
		consecutive++
	}
	if consecutive == 0 || consecutive%lim.PINFailures != 0 {
		return consecutive, 0
	}
	lock := lim.PINLockMax
	if n := consecutive/lim.PINFailures - 1; n < 30 {
		lock = min(lim.PINLockBase<<n, lim.PINLockMax)
	}
	return consecutive, max(0, tail[0].At.Add(lock).Sub(now))
}

// pinRefused says whether sc's failures forbid a check now. A trusted
// device: every PINFailures-th failure in a row locks it (see lockout),
// and after DeviceUntrustAfter in a row it is no longer trusted. The
// phone's unknown devices: at most UnknownPINFailures failures in any
// UnknownPINWindow, successes notwithstanding.
func (s *Service) pinRefused(tail domain.Tail, sc pinScope, field string) error {
	now := s.now()
	msg := "Too many failed attempts. Please try again later."
	if sc.trusted {
		entries, err := outcomes(tail, domain.RecentAttempts)
		if err != nil {
			return err
		}
		consecutive, wait := lockout(entries, now, s.Limits)
		if consecutive >= s.Limits.DeviceUntrustAfter {
			return errUntrusted
		}
		if wait > 0 {
			return tooMany(contract.ReasonPINLocked, field, wait, msg)
		}
		return nil
	}
	fails, err := s.unknownFailures(tail, now)
	if err != nil {
		return err
	}
	if len(fails) == s.Limits.UnknownPINFailures {
		if wait := fails[len(fails)-1].At.Add(s.Limits.UnknownPINWindow).Sub(now); wait > 0 {
			return tooMany(contract.ReasonPINLocked, field, wait, msg)
		}
	}
	return nil
}

// unknownFailures are the failures on a phone's unknown-device chain that
// count now, newest first and at most UnknownPINFailures of them: those
// inside UnknownPINWindow and after the last PIN reset (both codes
// proved). The newest turn lists the ones before it, so the count reads
// the entries after it only.
func (s *Service) unknownFailures(tail domain.Tail, now time.Time) ([]domain.Attempt, error) {
	var fails []domain.Attempt
	for i := 0; ; i++ {
		e, ok, err := tail.At(i)
		if err != nil {
			return nil, err
		}
		if !ok || e.Kind == pinReset || now.Sub(e.At) >= s.Limits.UnknownPINWindow {
			break
		}
		if e.Kind == pinFail {
			fails = append(fails, e)
		}
		if isTurn(e.Kind) {
			fails = append(fails, turnFailures(e.Kind)...)
			break
		}
	}
	fails = slices.DeleteFunc(fails, func(e domain.Attempt) bool { return now.Sub(e.At) >= s.Limits.UnknownPINWindow })
	return fails[:min(len(fails), s.Limits.UnknownPINFailures)], nil
}

func isTurn(kind string) bool { return kind == pinTurn || strings.HasPrefix(kind, pinTurn+":") }

// turnKind is a turn listing fails, by their times in Unix milliseconds
// (base 36): at most UnknownPINFailures of them, well inside an entry's
// 255 bytes.
func turnKind(fails []domain.Attempt) string {
	if len(fails) == 0 {
		return pinTurn
	}
	times := make([]string, len(fails))
	for i, f := range fails {
		times[i] = strconv.FormatInt(f.At.UnixMilli(), 36)
	}
	return pinTurn + ":" + strings.Join(times, ",")
}

func turnFailures(kind string) []domain.Attempt {
	list, ok := strings.CutPrefix(kind, pinTurn+":")
	if !ok {
		return nil
	}
	var out []domain.Attempt
	for _, t := range strings.Split(list, ",") {
		if ms, err := strconv.ParseInt(t, 36, 64); err == nil {
			out = append(out, domain.Attempt{Kind: pinFail, At: time.UnixMilli(ms).UTC()})
		}
	}
	return out
}

// turns queues one process's checks per scope, so that waiting for a
// turn costs no store traffic; the store's lock orders the replicas.
type turns struct {
	mu sync.Mutex
	m  map[string]*turn
}

type turn struct {
	slot    chan struct{}
	waiters int
}

func (t *turns) take(ctx context.Context, key string) (func(), error) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]*turn{}
	}
	tr := t.m[key]
	if tr == nil {
		tr = &turn{slot: make(chan struct{}, 1)}
		t.m[key] = tr
	}
	tr.waiters++
	t.mu.Unlock()
	done := func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if tr.waiters--; tr.waiters == 0 {
			delete(t.m, key)
		}
	}
	select {
	case tr.slot <- struct{}{}:
		return func() { <-tr.slot; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
