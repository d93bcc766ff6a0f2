package seal

import (
	"bytes"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	s := b.Seal([]byte("4821"), []byte("a@example.com"))
	if bytes.Contains(s, []byte("4821")) {
		t.Fatal("code visible in sealed bytes")
	}
	got, err := b.Open(s, []byte("a@example.com"))
	if err != nil || string(got) != "4821" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := b.Open(s, []byte("b@example.com")); err == nil {
		t.Fatal("opened with another address")
	}
	s[len(s)-1] ^= 1
	if _, err := b.Open(s, []byte("a@example.com")); err == nil {
		t.Fatal("opened a tampered box")
	}
}
