package app

import (
	"strings"
	"testing"
)

// Normalisation must never panic, and what it accepts must be a fixed
// point: normalising the output again gives the same address.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"user@example.com", "A@B.CO", "a@b", "\x00@x.y", "é@exämple.com", `"a b"@example.com`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeEmail("email", in)
		if err != nil {
			return
		}
		again, err := NormalizeEmail("email", out)
		if err != nil || again != out || out != strings.ToLower(out) {
			t.Fatalf("%q → %q → %q, %v", in, out, again, err)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+18681234567", "+1 (868) 123-4567", "+44 7911 123456", "+", "+0", "+999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizePhone("phone", in)
		if err != nil {
			return
		}
		again, err := NormalizePhone("phone", out)
		if err != nil || again != out || !strings.HasPrefix(out, "+") || strings.ContainsAny(out[1:], "+ -()") {
			t.Fatalf("%q → %q → %q, %v", in, out, again, err)
		}
	})
}
