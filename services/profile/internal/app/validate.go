package app

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dossapp/backend/pkg/contract"
)

// MaxNameLength is the longest first or last name, in characters.
const MaxNameLength = 50

// ValidateName trims both names and checks them, naming every bad field.
func ValidateName(req contract.UpdateNameRequest) (first, last string, err error) {
	var v contract.Validation
	first = checkName(&v, "first_name", "first name", req.FirstName)
	last = checkName(&v, "last_name", "last name", req.LastName)
	return first, last, v.Err()
}

func checkName(v *contract.Validation, field, label, raw string) string {
	name := strings.TrimSpace(raw)
	switch {
	case name == "":
		v.Add(field, "The "+label+" field is required.")
	case !utf8.ValidString(name):
		v.Add(field, "The "+label+" must be valid text.")
	case utf8.RuneCountInString(name) > MaxNameLength:
		v.Add(field, "The "+label+" may not be greater than 50 characters.")
	case strings.IndexFunc(name, forbidden) >= 0:
		v.Add(field, "The "+label+" contains characters that are not allowed.")
	}
	return name
}

// forbidden rejects control and invisible format characters, and the
// markup brackets a name never needs.
func forbidden(r rune) bool {
	return r == '<' || r == '>' || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}
