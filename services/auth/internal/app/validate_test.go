package app

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/dossapp/backend/pkg/contract"
)

func TestNormalizeEmail(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"User@Example.com", "user@example.com"},
		{"  a.b+tag@sub.example.org ", "a.b+tag@sub.example.org"},
		{"no-at-sign", ""},
		{"a@localhost", ""},
		{"Name <a@example.com>", ""},
		{"a@@example.com", ""},
		{"a@example..com", ""},
		{"", ""},
		{"a\u200b@example.com", ""},
		{"a\u202e@example.com", ""},
		{"a\u00a0b@example.com", ""},
		{"a@exa\u2060mple.com", ""},
		{"é@exämple.com", "é@exämple.com"},
		// One address, one spelling (issue 15): NFC, and the domain in
		// its Unicode form however it was sent.
		{"e\u0301@example.com", "é@example.com"},
		{"é@xn--exmple-cua.com", "é@exämple.com"},
		{"É@EXÄMPLE.COM", "é@exämple.com"},
		{"é@exa\u0308mple.com", "é@exämple.com"},
		{"a@ｅｘａｍｐｌｅ.com", "a@example.com"},
		// One script per part: a Cyrillic or Greek letter among Latin
		// ones is a look-alike of another address.
		{"\u0430lice@example.com", ""},
		{"alice@ex\u0430mple.com", ""},
		{"alice@example.\u0441om", ""},
		{"p\u03bfst@example.com", ""},
		{"ａlice@example.com", ""}, // fullwidth: a compatibility look-alike
		{"ﬁle@example.com", ""},   // a ligature
		{"иван@example.com", "иван@example.com"},
		{"почта@пример.рф", "почта@пример.рф"},
		{"иван@пример.com", "иван@пример.com"}, // each label in one script
		{"山田たろう@example.jp", "山田たろう@example.jp"},
		{"김철수@example.kr", "김철수@example.kr"},
		{"a.b-c_d+e@example.com", "a.b-c_d+e@example.com"},
		{"a@ex_ample.com", ""},
		{"a@xn--zz-.com", ""},
		{"a@-example.com", ""},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := NormalizeEmail("email", c.in)
			if c.want == "" {
				if err == nil || contract.ErrorCode(err) != contract.Invalid {
					t.Fatalf("accepted %q as %q", c.in, got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"+18681234567", "+18681234567"},
		{"+1 (868) 765-4321", "+18687654321"},
		{"+447911123456", "+447911123456"},
		{"+1868", ""},
		{"18681234567", ""}, // no country dial code
		{"+99912345", ""},
		{"+1868123456789012345", ""},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := NormalizePhone("phone", c.in)
			if c.want == "" {
				if err == nil {
					t.Fatalf("accepted %q as %q", c.in, got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestValidatePIN(t *testing.T) {
	for pin, ok := range map[string]bool{
		"4829": true, "5820": true, "1357": false, "1234": false, "9876": false, "0123": false,
		"1111": false, "0000": false, "1212": false, "123": false, "12345": false, "12a4": false, "": false, "٤٨٢٩": false,
	} {
		if err := ValidatePIN("pin", pin); (err == nil) != ok {
			t.Errorf("ValidatePIN(%q) = %v, want ok=%v", pin, err, ok)
		}
	}
}

func TestHasherAndCodes(t *testing.T) {
	h := NewHasher(Argon2{MemoryKiB: 1024, Time: 1, Threads: 1}, []byte("pepper-one-pepper-one-pepper-one"))
	enc := h.Hash("4829")
	if !h.Verify(enc, "4829") || h.Verify(enc, "4828") {
		t.Fatal("verify wrong")
	}
	if enc == h.Hash("4829") {
		t.Fatal("no per-hash salt")
	}
	other := NewHasher(Argon2{MemoryKiB: 1024, Time: 1, Threads: 1}, []byte("pepper-two-pepper-two-pepper-two"))
	if other.Verify(enc, "4829") {
		t.Fatal("a hash verifies without its pepper")
	}
	key := []byte("k")
	if string(CodeMAC(key, "p", "a@example.com", "1234")) == string(CodeMAC(key, "p", "b@example.com", "1234")) {
		t.Fatal("code MAC not bound to the address")
	}
	seen := map[string]bool{}
	for range 200 {
		c := NewCode(4)
		if len(c) != 4 || ValidateCode("c", c, 4) != nil {
			t.Fatalf("bad code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 150 {
		t.Fatalf("only %d distinct codes of 200", len(seen))
	}
}

// However many logins arrive at once, no more hashes run than there are
// cores: each holds its memory (19 MiB by default) until it ends.
func TestHashesRunAtMostOnePerCore(t *testing.T) {
	h := NewHasher(Argon2{MemoryKiB: 64, Time: 1, Threads: 1}, []byte("pepper"))
	cores := cap(h.slots)
	var running, peak atomic.Int32
	entered, release := make(chan struct{}, 8*cores), make(chan struct{})
	h.derive = func(secret, salt []byte, t, m uint32, p uint8, n uint32) []byte {
		now := running.Add(1)
		for old := peak.Load(); now > old && !peak.CompareAndSwap(old, now); old = peak.Load() {
		}
		entered <- struct{}{}
		<-release
		running.Add(-1)
		return argon2.IDKey(secret, salt, t, m, p, n)
	}
	var wg sync.WaitGroup
	for range 4 * cores {
		wg.Add(1)
		go func() { defer wg.Done(); h.Hash("7193") }()
	}
	for range cores {
		<-entered
	}
	// The other callers are runnable: without the bound, they enter while
	// the first ones are held (yielding lets them; no sleeping needed).
	for range 10_000 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if got := peak.Load(); got > int32(cores) {
		t.Fatalf("%d hashes ran at once on %d cores", got, cores)
	}
}
