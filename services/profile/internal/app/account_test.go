package app

import (
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

func validUpdate() contract.AccountUpdateRequest {
	return contract.AccountUpdateRequest{FirstName: " Jane ", LastName: "Doe", Gender: "Female", Birthdate: "1990-05-15", Telephone: "+18681234567"}
}

func TestValidateAccountUpdate(t *testing.T) {
	today := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	c, err := ValidateAccountUpdate(validUpdate(), false, today)
	if err != nil || c.first != "Jane" || c.gender != "female" || c.birthdate != "1990-05-15" {
		t.Fatalf("%+v %v", c, err)
	}
	yes := contract.FlexBool(true)
	for _, tc := range []struct {
		name      string
		edit      func(*contract.AccountUpdateRequest)
		withTwoFA bool
		field     string // "" = accepted
		birthdate string
	}{
		{"skip the birthdate", func(r *contract.AccountUpdateRequest) { r.Birthdate = "0000-00-00" }, false, "", ""},
		{"yesterday", func(r *contract.AccountUpdateRequest) { r.Birthdate = "2026-11-21" }, false, "", "2026-11-21"},
		{"today", func(r *contract.AccountUpdateRequest) { r.Birthdate = "2026-11-22" }, false, "birthdate", ""},
		{"future", func(r *contract.AccountUpdateRequest) { r.Birthdate = "2030-01-01" }, false, "birthdate", ""},
		{"not a real day", func(r *contract.AccountUpdateRequest) { r.Birthdate = "1990-02-30" }, false, "birthdate", ""},
		{"other format", func(r *contract.AccountUpdateRequest) { r.Birthdate = "15/05/1990" }, false, "birthdate", ""},
		{"unpadded", func(r *contract.AccountUpdateRequest) { r.Birthdate = "1990-5-15" }, false, "birthdate", ""},
		{"too old", func(r *contract.AccountUpdateRequest) { r.Birthdate = "1899-12-31" }, false, "birthdate", ""},
		{"missing birthdate", func(r *contract.AccountUpdateRequest) { r.Birthdate = "" }, false, "birthdate", ""},
		{"gender outside the set", func(r *contract.AccountUpdateRequest) { r.Gender = "robot" }, false, "gender", ""},
		{"no gender", func(r *contract.AccountUpdateRequest) { r.Gender = " " }, false, "gender", ""},
		{"markup in a name", func(r *contract.AccountUpdateRequest) { r.FirstName = "<b>x</b>" }, false, "firstname", ""},
		{"no lastname", func(r *contract.AccountUpdateRequest) { r.LastName = "" }, false, "lastname", ""},
		{"no telephone", func(r *contract.AccountUpdateRequest) { r.Telephone = "" }, false, "telephone", ""},
		{"junk after the number", func(r *contract.AccountUpdateRequest) { r.Telephone = "+18681239000; DROP TABLE users" }, false, "telephone", ""},
		{"zero-width space in the number", func(r *contract.AccountUpdateRequest) { r.Telephone = "+1868\u200b1239000" }, false, "telephone", ""},
		{"a plus inside", func(r *contract.AccountUpdateRequest) { r.Telephone = "1868+1239000" }, false, "telephone", ""},
		{"2fa without is_two_fa", func(*contract.AccountUpdateRequest) {}, true, "is_two_fa", "1990-05-15"},
		{"2fa with is_two_fa", func(r *contract.AccountUpdateRequest) { r.IsTwoFA = &yes }, true, "", "1990-05-15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validUpdate()
			tc.edit(&r)
			c, err := ValidateAccountUpdate(r, tc.withTwoFA, today)
			if tc.field != "" {
				wantField(t, err, tc.field)
				return
			}
			if err != nil || c.birthdate != tc.birthdate {
				t.Fatalf("birthdate %q, err %v; want %q", c.birthdate, err, tc.birthdate)
			}
		})
	}
}

func TestBirthdateLock(t *testing.T) {
	for _, tc := range []struct{ stored, wanted string }{{"", "1990-05-15"}, {"1990-05-15", "1990-05-15"}, {"1990-05-15", ""}} {
		if err := lockedBirthdate(tc.stored, tc.wanted); err != nil {
			t.Errorf("%q → %q refused: %v", tc.stored, tc.wanted, err)
		}
	}
	wantField(t, lockedBirthdate("1990-05-15", "1991-01-01"), "birthdate")
}

func TestRenameFieldsSpeaksTheAccountAPI(t *testing.T) {
	err := renameFields(contract.FieldError("new_phone", "The new phone has already been taken."))
	e := contract.AsError(err)
	if e.Code != contract.Invalid || len(e.Fields["telephone"]) != 1 || e.Fields["new_phone"] != nil || e.Message != "The telephone has already been taken." {
		t.Fatalf("%+v", e)
	}
	if err := renameFields(contract.Errorf(contract.RateLimited, "Wait.")); contract.ErrorCode(err) != contract.RateLimited {
		t.Fatalf("%v", err)
	}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	e := contract.AsError(err)
	if err == nil || e.Code != contract.Invalid || len(e.Fields[field]) == 0 {
		t.Fatalf("err %v, want a 422 on %s", err, field)
	}
}
