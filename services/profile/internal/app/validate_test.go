package app

import (
	"strings"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
)

func TestValidateName(t *testing.T) {
	long := strings.Repeat("é", MaxNameLength)
	cases := []struct {
		name       string
		first      string
		last       string
		wantFields []string
		wantFirst  string
	}{
		{"plain", "Jane", "Doe", nil, "Jane"},
		{"trimmed", "  Jane\t", " Doe ", nil, "Jane"},
		{"accents and hyphens at the limit", long, "O'Brien-Smith", nil, long},
		{"empty first", "", "Doe", []string{"first_name"}, ""},
		{"blank last", "Jane", "   ", []string{"last_name"}, "Jane"},
		{"too long", long + "x", "Doe", []string{"first_name"}, ""},
		{"markup", "<b>Jane</b>", "Doe", []string{"first_name"}, ""},
		{"control char", "Jane", "Do\x00e", []string{"last_name"}, "Jane"},
		{"zero-width", "Ja\u200bne", "Doe", []string{"first_name"}, ""},
		{"invalid utf8", "Ja\xffne", "Doe", []string{"first_name"}, ""},
		{"both bad", "", "<x>", []string{"first_name", "last_name"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			first, _, err := ValidateName(contract.UpdateNameRequest{FirstName: c.first, LastName: c.last})
			if len(c.wantFields) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if first != c.wantFirst {
					t.Fatalf("first = %q, want %q", first, c.wantFirst)
				}
				return
			}
			e := contract.AsError(err)
			if e.Code != contract.Invalid || len(e.Fields) != len(c.wantFields) {
				t.Fatalf("got %v (fields %v), want invalid on %v", err, e.Fields, c.wantFields)
			}
			for _, f := range c.wantFields {
				if len(e.Fields[f]) == 0 {
					t.Fatalf("no message for %s: %v", f, e.Fields)
				}
			}
		})
	}
}
