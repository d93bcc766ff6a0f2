package app

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash"
	"net/url"
	"time"
)

// TOTP is RFC 6238 over RFC 4226's HOTP: the code for the 30-second step
// that t falls in. Staff authenticators use SHA-1 and 6 digits (what every
// authenticator app reads from an otpauth:// URI without parameters); the
// other hashes are here for the RFC's test vectors.
type TOTP struct {
	Hash   func() hash.Hash
	Digits int
	Step   time.Duration
}

// StaffTOTP is the console's TOTP: SHA-1, 6 digits, 30 s.
var StaffTOTP = TOTP{Hash: sha1.New, Digits: 6, Step: 30 * time.Second}

// Counter is the time step t falls in.
func (p TOTP) Counter(t time.Time) uint64 { return uint64(t.Unix()) / uint64(p.Step/time.Second) }

// Code is the HOTP value of secret at counter (RFC 4226 §5.3: dynamic
// truncation of the HMAC, modulo 10^Digits, zero-padded).
func (p TOTP) Code(secret []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(p.Hash, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range p.Digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", p.Digits, bin%mod)
}

// Match finds the counter within one step either side of t whose code is
// code, comparing every candidate in constant time.
func (p TOTP) Match(secret []byte, code string, t time.Time) (uint64, bool) {
	now := p.Counter(t)
	var found uint64
	ok := false
	for _, c := range []uint64{now - 1, now, now + 1} {
		if hmac.Equal([]byte(p.Code(secret, c)), []byte(code)) {
			found, ok = c, true
		}
	}
	return found, ok
}

// totpEncoding is the base32 of otpauth:// secrets: RFC 4648, no padding.
var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// OTPAuthURI is the key-URI an authenticator app scans.
func OTPAuthURI(issuer, account string, secret []byte) string {
	v := url.Values{}
	v.Set("secret", totpEncoding.EncodeToString(secret))
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?" + v.Encode()
}
