package app

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math/big"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

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
