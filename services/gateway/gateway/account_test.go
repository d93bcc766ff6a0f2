package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
)

func TestAccountUpdateBody(t *testing.T) {
	sent := contract.AccountUpdateReply{OTPSent: &contract.AccountOTPSent{Telephone: "+18680000001", IsOTPSent: true, Message: "OTP Sent successfully!", VerificationCode: "904217"}}
	updated := contract.AccountUpdateReply{Updated: &contract.AccountUpdated{AccountProfile: contract.AccountProfile{UserID: 3}, IsProfileUpdated: true, ValidTokenCount: 2}}
	for _, c := range []struct {
		name       string
		dev, twoFA bool
		reply      contract.AccountUpdateReply
		has, hasNo []string
	}{
		{"code hidden in production", false, true, sent, []string{`"is_otp_sent":true`, `"telephone":"+18680000001"`}, []string{"verification_code", "904217"}},
		{"code shown in dev", true, false, sent, []string{`"verification_code":"904217"`}, nil},
		{"profile answers the profile", false, false, updated, []string{`"user_id":3`}, []string{"is_profile_updated", "valid_token_count"}},
		{"2fa adds the update flags", false, true, updated, []string{`"user_id":3`, `"is_profile_updated":true`, `"valid_token_count":2`}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(accountUpdateBody(c.dev, c.twoFA, c.reply))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range c.has {
				if !strings.Contains(string(b), s) {
					t.Errorf("no %s in %s", s, b)
				}
			}
			for _, s := range c.hasNo {
				if strings.Contains(string(b), s) {
					t.Errorf("%s in %s", s, b)
				}
			}
		})
	}
	// The reply the gateway decoded is not changed for the next reader.
	accountUpdateBody(false, true, sent)
	if sent.OTPSent.VerificationCode != "904217" {
		t.Fatal("the reply was modified")
	}
}
