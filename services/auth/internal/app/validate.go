package app

import (
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
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
