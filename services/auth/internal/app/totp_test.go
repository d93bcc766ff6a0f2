package app

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"testing"
	"time"
)

// The test vectors of RFC 6238, Appendix B: 8 digits, 30 s steps, and the
// seed for each hash its ASCII digits repeated to the hash's length.
func TestTOTPRFC6238Vectors(t *testing.T) {
	seeds := map[string][]byte{
		"SHA1":   []byte("12345678901234567890"),
		"SHA256": []byte("12345678901234567890123456789012"),
		"SHA512": []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	hashes := map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}
	for _, v := range []struct {
		unix int64
		alg  string
		want string
	}{
		{59, "SHA1", "94287082"}, {59, "SHA256", "46119246"}, {59, "SHA512", "90693936"},
		{1111111109, "SHA1", "07081804"}, {1111111109, "SHA256", "68084774"}, {1111111109, "SHA512", "25091201"},
		{1111111111, "SHA1", "14050471"}, {1111111111, "SHA256", "67062674"}, {1111111111, "SHA512", "99943326"},
		{1234567890, "SHA1", "89005924"}, {1234567890, "SHA256", "91819424"}, {1234567890, "SHA512", "93441116"},
		{2000000000, "SHA1", "69279037"}, {2000000000, "SHA256", "90698825"}, {2000000000, "SHA512", "38618901"},
		{20000000000, "SHA1", "65353130"}, {20000000000, "SHA256", "77737706"}, {20000000000, "SHA512", "47863826"},
	} {
		t.Run(v.alg+"/"+time.Unix(v.unix, 0).UTC().Format(time.RFC3339), func(t *testing.T) {
			p := TOTP{Hash: hashes[v.alg], Digits: 8, Step: 30 * time.Second}
			at := time.Unix(v.unix, 0)
			if got := p.Code(seeds[v.alg], p.Counter(at)); got != v.want {
				t.Fatalf("code %s, want %s", got, v.want)
			}
			if _, ok := p.Match(seeds[v.alg], v.want, at); !ok {
				t.Fatal("Match refused the right code")
			}
		})
	}
}

// One step either side is accepted (clock drift), two are not.
func TestTOTPWindow(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1_700_000_000, 0)
	p := StaffTOTP
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"now", now, true},
		{"a step early", now.Add(-30 * time.Second), true},
		{"a step late", now.Add(30 * time.Second), true},
		{"two steps early", now.Add(-60 * time.Second), false},
		{"two steps late", now.Add(61 * time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := p.Code(secret, p.Counter(tc.at))
			if _, ok := p.Match(secret, code, now); ok != tc.ok {
				t.Fatalf("accepted %v, want %v", ok, tc.ok)
			}
		})
	}
	if _, ok := p.Match(secret, "", now); ok {
		t.Fatal("empty code accepted")
	}
}
