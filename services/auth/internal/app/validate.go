package app

import (
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"github.com/dossapp/backend/pkg/contract"
)

// NormalizeEmail trims, NFC-normalises and lower-cases an address and
// checks its shape; it is the one normaliser of an email (profile keeps
// what auth returns). The domain is in its Unicode form (IDNA lookup
// mapping: "xn--exmple-cua.com" and "exämple.com" are one address), and
// each label of the domain, and the local part, must be written in one
// script (UTS #39 highly restrictive): "аlice@example.com" with a Cyrillic
// "а" would otherwise be a second account that looks like the first.
func NormalizeEmail(field, raw string) (string, error) {
	e := strings.TrimSpace(raw)
	if e == "" {
		return "", contract.FieldError(field, "The "+field+" field is required.")
	}
	bad := contract.FieldError(field, "The "+field+" must be a valid email address.")
	// Invisible characters (zero-width, bidi overrides, controls) would let
	// one address be registered again under a spelling that looks the same.
	if len(e) > 4*254 || !utf8.ValidString(e) || strings.IndexFunc(e, invisible) >= 0 {
		return "", bad
	}
	e = norm.NFC.String(strings.ToLower(norm.NFC.String(e)))
	at := strings.LastIndexByte(e, '@')
	if at <= 0 {
		return "", bad
	}
	domain, err := emailDomain.ToUnicode(e[at+1:])
	if err != nil {
		return "", bad
	}
	e = e[:at+1] + domain
	if len(e) > 254 {
		return "", bad
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" {
		return "", bad
	}
	local := e[:at]
	if local == "" || len(local) > 64 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") || strings.ContainsAny(e, " \t\r\n<>()[]\\,;:\"") {
		return "", bad
	}
	// Compatibility characters (fullwidth "ａ", ligatures, superscripts)
	// are look-alikes within one script: UTS #39 leaves them out.
	if !norm.NFKC.IsNormalString(local) {
		return "", bad
	}
	if !oneScript(local) {
		return "", contract.FieldError(field, "The "+field+" mixes letters of different scripts.")
	}
	for label := range strings.SplitSeq(domain, ".") {
		if !oneScript(label) {
			return "", contract.FieldError(field, "The "+field+" mixes letters of different scripts.")
		}
	}
	return e, nil
}

// emailDomain maps a domain as a lookup would (case, width, NFC) and
// checks it (hyphens, joiners, bidi, STD3 characters, DNS lengths); its
// ToASCII of the result is what a mail server is given.
var emailDomain = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true), idna.Transitional(false))

// scriptSets are the mixes of scripts UTS #39's highly restrictive level
// allows in one identifier: the ways Japanese, Chinese and Korean are
// written, each with Latin.
var scriptSets = [][]*unicode.RangeTable{
	{unicode.Latin, unicode.Han, unicode.Hiragana, unicode.Katakana},
	{unicode.Latin, unicode.Han, unicode.Bopomofo},
	{unicode.Latin, unicode.Han, unicode.Hangul},
}

// oneScript says whether s is written in one script, beside characters
// common to all (digits, punctuation) and inherited ones (combining
// marks), or in one of scriptSets.
func oneScript(s string) bool {
	var used []*unicode.RangeTable
	for _, r := range s {
		if r < utf8.RuneSelf && !unicode.IsLetter(r) || unicode.In(r, unicode.Common, unicode.Inherited) {
			continue
		}
		t := scriptOf(r)
		if t == nil {
			return false // unassigned
		}
		if !slices.Contains(used, t) {
			used = append(used, t)
		}
	}
	if len(used) <= 1 {
		return true
	}
	for _, set := range scriptSets {
		if !slices.ContainsFunc(used, func(t *unicode.RangeTable) bool { return !slices.Contains(set, t) }) {
			return true
		}
	}
	return false
}

// scriptOf is the script of a letter; Latin, the usual one, is tried first.
func scriptOf(r rune) *unicode.RangeTable {
	if unicode.Is(unicode.Latin, r) {
		return unicode.Latin
	}
	for _, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return t
		}
	}
	return nil
}

func invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || !unicode.IsGraphic(r) || unicode.IsSpace(r)
}

// ValidateCode checks the shape of a one-time code.
func ValidateCode(field, code string, length int) error {
	if code == "" {
		return contract.FieldError(field, "The "+field+" field is required.")
	}
	if len(code) != length || strings.Trim(code, "0123456789") != "" {
		return contract.FieldError(field, "The "+field+" must be "+itoa(length)+" digits.")
	}
	return nil
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
