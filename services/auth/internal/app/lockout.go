package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
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
func (s *Service) checkSecret(ctx context.Context, acc *Account, phone, device, field string, check func() bool) (bool, error) {
	if acc != nil {
		if mac := s.deviceMAC(acc.UUID, device); acc.trusts(mac) {
			own := trustedDevice(acc.UUID, mac)
			ok, err := s.checkPIN(ctx, own, field, check)
			if !errors.Is(err, errUntrusted) {
				return ok, err
			}
			ok, err = s.checkPIN(ctx, unknownDevices(phone), field, check)
			if ok {
				// The right secret gives the device its trust back.
				_, _ = s.Ledger.Append(context.WithoutCancel(ctx), own.failures(), func(*mongox.Tail, time.Time) (string, error) { return "ok", nil })
			}
			return ok, err
		}
	}
	return s.checkPIN(ctx, unknownDevices(phone), field, check)
}

// checkPIN runs check under sc's lockout. The checks of one scope take
// turns: a lock is held from before the failures are read until the
// outcome is recorded, so however many run at once, no more are checked
// than the cap allows, and only a failed check is recorded as a failure
// (the right secret sent N times at once gets through N times).
func (s *Service) checkPIN(ctx context.Context, sc pinScope, field string, check func() bool) (bool, error) {
	unlock, err := s.lockPIN(ctx, sc, field)
	if err != nil {
		return false, err
	}
	defer unlock()
	tail, err := s.Ledger.Tail(ctx, sc.failures())
	if err != nil {
		return false, err
	}
	if err := s.pinRefused(tail, sc, field); err != nil {
		return false, err
	}
	kind := ""
	if check() {
		// A trusted device's count is of failures in a row: a success
		// ends it. The shared cap is not reset by anyone's success.
		if last, ok, _ := tail.At(0); sc.trusted && ok && last.Kind != "ok" {
			kind = "ok"
		}
	} else {
		kind = "fail"
	}
	if kind != "" {
		if _, err := s.Ledger.Append(context.WithoutCancel(ctx), sc.failures(), func(*mongox.Tail, time.Time) (string, error) { return kind, nil }); err != nil {
			return false, err
		}
	}
	return kind != "fail", nil
}

// pinRefused says whether sc's failures forbid a check now. A trusted
// device: every PINFailures-th failure in a row locks it (see lockout),
// and after DeviceUntrustAfter in a row it is no longer trusted. The
// phone's unknown devices: at most UnknownPINFailures failures in any
// UnknownPINWindow, successes notwithstanding.
func (s *Service) pinRefused(tail *mongox.Tail, sc pinScope, field string) error {
	now := s.now()
	msg := "Too many failed attempts. Please try again later."
	if sc.trusted {
		entries, err := tail.First(mongox.RecentEntries)
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
	// A PIN reset (both codes proved) ends the count of the failures before it.
	for i := range s.Limits.UnknownPINFailures {
		e, ok, err := tail.At(i)
		if err != nil {
			return err
		}
		if !ok || e.Kind == pinReset {
			return nil
		}
	}
	oldest, ok, err := tail.At(s.Limits.UnknownPINFailures - 1)
	if err != nil {
		return err
	}
	if ok {
		if wait := oldest.At.Add(s.Limits.UnknownPINWindow).Sub(now); wait > 0 {
			return tooMany(contract.ReasonPINLocked, field, wait, msg)
		}
	}
	return nil
}

// pinLock is a scope's turn to check a secret: only one writer can insert
// its _id (a unique insert is the one atomic write FerretDB v1 has), and
// its holder removes it when the outcome is recorded.
type pinLock struct {
	ID     string    `bson:"_id"`
	Holder string    `bson:"holder"`
	At     time.Time `bson:"at"`
}

const (
	// pinLockStale is when a lock whose holder never removed it (a process
	// that died mid-check) may be taken over; a check takes milliseconds.
	pinLockStale = 30 * time.Second
	// pinLockWait bounds the wait for a turn.
	pinLockWait = 10 * time.Second
)

// lockPIN waits for sc's turn: first among this process's checks of sc
// (no store traffic while they queue), then among every replica's. A
// scope already locked out is refused at once instead of queued.
func (s *Service) lockPIN(ctx context.Context, sc pinScope, field string) (func(), error) {
	ctx, cancel := context.WithTimeout(ctx, pinLockWait)
	defer cancel()
	busy := func(err error) error {
		if ctx.Err() != nil {
			return contract.Errorf(contract.Unavailable, "Too many logins at once. Please try again.")
		}
		return err
	}
	leave, err := s.turns.take(ctx, sc.key)
	if err != nil {
		return nil, busy(err)
	}
	id, me := "pin:"+sc.key, randomID()
	for pause := 2 * time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		_, err := s.PINLocks.InsertOne(ctx, pinLock{ID: id, Holder: me, At: s.now()})
		if err == nil {
			return func() {
				_, _ = s.PINLocks.DeleteOne(context.WithoutCancel(ctx), bson.M{"_id": id, "holder": me})
				leave()
			}, nil
		}
		if !mongox.IsDuplicate(err) {
			leave()
			return nil, busy(mongox.Wrap("pin lock", err))
		}
		// Another replica holds the turn.
		if err := s.refusedNow(ctx, sc, field); err != nil {
			leave()
			return nil, busy(err)
		}
		var held pinLock
		if err := s.PINLocks.FindOne(ctx, bson.M{"_id": id}).Decode(&held); err == nil && s.now().Sub(held.At) > pinLockStale {
			_, _ = s.PINLocks.DeleteOne(ctx, bson.M{"_id": id, "holder": held.Holder})
			continue
		}
		select {
		case <-ctx.Done():
			leave()
			return nil, busy(ctx.Err())
		case <-time.After(pause):
		}
	}
}

func (s *Service) refusedNow(ctx context.Context, sc pinScope, field string) error {
	tail, err := s.Ledger.Tail(ctx, sc.failures())
	if err != nil {
		return err
	}
	return s.pinRefused(tail, sc, field)
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
