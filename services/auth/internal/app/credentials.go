package app

// The phone and PIN a user signs in with: the form of each, how a PIN is
// hashed, and the limits on guessing one (the lockout per device and per
// phone, the limit per address). Every check of a PIN (login, PIN reset,
// password change, 2FA changes, deletion) runs through checkSecret here.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/crypto/argon2"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// NormalizePhone parses an international number and returns it in E.164.
// A number that is possible for its country is accepted.
func NormalizePhone(field, raw string) (string, error) {
	p := strings.TrimSpace(raw)
	if p == "" {
		return "", contract.FieldError(field, "The "+field+" field is required.")
	}
	bad := contract.FieldError(field, "The "+field+" must be a valid phone number including the country dial code, e.g. +18681234567.")
	// Only digits and the usual separators: the parser would otherwise turn
	// letters into keypad digits and read extension markers.
	if len(p) > 32 || !strings.HasPrefix(p, "+") || strings.Trim(p[1:], "0123456789 -().") != "" {
		return "", bad
	}
	num, err := phonenumbers.Parse(p, "")
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", bad
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	// The number must be exactly the digits given: a parser that drops a
	// trunk zero or reads an extension would make one account reachable
	// under several spellings.
	if e164[1:] != strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, p) {
		return "", bad
	}
	return e164, nil
}

// commonPINs are among the most chosen 4-digit PINs; with runs and repeats
// they make up a large share of what people pick.
var commonPINs = map[string]bool{
	"1212": true, "1004": true, "2000": true, "6969": true, "1122": true, "1313": true,
	"2001": true, "1010": true, "2580": true, "1221": true, "0852": true, "1100": true,
	"2222": true, "1990": true, "1985": true, "1980": true, "2468": true, "1357": true,
	"0101": true, "2020": true, "5683": true, "0007": true, "1111": true, "0000": true,
}

// ValidatePIN enforces exactly four digits and refuses weak PINs.
func ValidatePIN(field, pin string) error {
	if pin == "" {
		return contract.FieldError(field, "The "+field+" field is required.")
	}
	if len(pin) != 4 || strings.Trim(pin, "0123456789") != "" {
		return contract.FieldError(field, "The "+field+" must be exactly 4 digits.")
	}
	weak := contract.FieldError(field, "This PIN is too easy to guess. Avoid repeated digits, sequences such as 1234, and common PINs.")
	if commonPINs[pin] || pin == strings.Repeat(pin[:1], 4) {
		return weak
	}
	up, down := true, true
	for i := 1; i < 4; i++ {
		d := int(pin[i]) - int(pin[i-1])
		up = up && d == 1
		down = down && d == -1
	}
	if up || down {
		return weak
	}
	return nil
}

// Argon2 holds argon2id cost parameters.
type Argon2 struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// Hasher hashes PINs with argon2id, a per-hash salt and a server pepper
// (HMAC of the PIN under the pepper, so a stolen database alone is not
// enough to brute-force 10 000 PINs).
type Hasher struct {
	params Argon2
	pepper []byte
	// slots bounds the hashes computed at once to the cores: each holds
	// MemoryKiB (19 MiB by default) and wants a core's caches, so more at
	// once only add memory (a burst of logins would hold one per request
	// in flight) and make each slower by sharing the caches.
	slots  chan struct{}
	derive func(secret, salt []byte, t, m uint32, p uint8, n uint32) []byte // argon2.IDKey; tests count calls
}

func NewHasher(p Argon2, pepper []byte) *Hasher {
	return &Hasher{params: p, pepper: pepper, slots: make(chan struct{}, runtime.GOMAXPROCS(0)), derive: argon2.IDKey}
}

// key computes one argon2id key in a slot.
func (h *Hasher) key(secret, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return h.derive(secret, salt, t, m, p, n)
}

func (h *Hasher) peppered(secret string) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Hash returns an encoded argon2id hash.
func (h *Hasher) Hash(secret string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	p := h.params
	key := h.key(h.peppered(secret), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify compares in constant time, with the parameters stored in the hash
// so that raising the cost later keeps old hashes valid.
func (h *Hasher) Verify(encoded, secret string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		h.Hash(secret) // same work either way
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := h.key(h.peppered(secret), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Burn does the work of one Verify, for answers that must take as long as
// a real check (an unknown phone).
func (h *Hasher) Burn(secret string) { h.Hash(secret) }

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

// IPLimit caps one kind of public request per client address over a
// window. The address is the one the gateway saw (the peer, or a trusted
// proxy's X-Forwarded-For), and the count lives in the shared store, so
// every gateway and auth replica enforces the same budget.
type IPLimit struct {
	Max    int
	Window time.Duration
}

func (s *Service) limitIP(ctx context.Context, action string, lim IPLimit) error {
	hit, ok := s.ipHit(ctx, action, lim)
	if !ok {
		return nil
	}
	_, err := s.Ledger.Append(ctx, hit.Key, hit.Decide)
	return err
}

// ipHit is the entry a request of action adds to its client address's
// count, for an append that also counts the request elsewhere; ok is
// false when the request is not counted.
func (s *Service) ipHit(ctx context.Context, action string, lim IPLimit) (hit domain.Appending, ok bool) {
	ip := natsx.CallerFrom(ctx).Network()
	if ip == "" || lim.Max <= 0 {
		return domain.Appending{}, false
	}
	return domain.Appending{Key: "ip:" + action + ":" + ip, Decide: func(tail domain.Tail, now time.Time) (string, error) {
		// The Max-th newest hit decides: inside the window, Max hits are.
		oldest, ok, err := tail.At(lim.Max - 1)
		if err != nil {
			return "", err
		}
		if ok {
			if wait := oldest.At.Add(lim.Window).Sub(now); wait > 0 {
				return "", tooMany(contract.ReasonRateLimited, "ip", wait, "Too many requests from your network. Please try again later.")
			}
		}
		return "hit", nil
	}}, true
}

// ipRefused refuses a hit at once when the count this process last saw
// is full already, before any work; the hit's append decides for sure.
func (s *Service) ipRefused(ctx context.Context, hit domain.Appending) error {
	tail, err := s.Ledger.Recalled(ctx, hit.Key)
	if err != nil {
		return err
	}
	_, err = hit.Decide(tail, s.now())
	return err
}
