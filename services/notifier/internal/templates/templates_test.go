package templates

import (
	"errors"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	set, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	otp := map[string]string{"Code": "123456", "Minutes": "10"}
	tests := []struct {
		name, locale, channel string
		data                  map[string]string
		want                  []string
	}{
		{"register_email", "en", "email", otp, []string{"123456", "10 minutes"}},
		{"register_phone", "en", "sms", otp, []string{"123456", "10 minutes"}},
		{"login_2fa", "fr-FR", "sms", otp, []string{"123456"}},
		{"profile_2fa", "", "email", otp, []string{"123456", "10 minutes"}},
		{"email_changed", "en", "email", map[string]string{"New": "b@x.io"}, []string{"to b@x.io"}},
		{"phone_changed", "en", "push", nil, []string{"phone number"}},
		{"account_exists", "en", "email", nil, []string{"already belongs to an account", "Forgot PIN"}},
		{"account_exists", "en", "sms", nil, []string{"already has an account"}},
		{"change_email", "en", "email", otp, []string{"123456", "10 minutes"}},
		{"change_phone", "en", "sms", otp, []string{"123456", "10 minutes"}},
		{"email_change_requested", "en", "email", map[string]string{"New": "b@x.io"}, []string{"to b@x.io", "Nothing changes"}},
		{"phone_change_requested", "en", "sms", map[string]string{"New": "+15550002"}, []string{"to +15550002", "Not you?"}},
		{"contact_change_dropped", "en", "email", map[string]string{"New": "b@x.io"}, []string{"b@x.io", "another account"}},
		{"contact_added", "en", "sms", nil, []string{"contact of your account"}},
		{"document_reviewed", "EN", "email", map[string]string{"Document": "ID", "Status": "rejected", "Reason": "blurry"}, []string{`"ID" was reviewed: rejected`, "Reason: blurry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.locale+"/"+tt.channel, func(t *testing.T) {
			subject, body, err := set.Render(tt.name, tt.locale, tt.channel, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if subject == "" || strings.Contains(body, "<no value>") {
				t.Errorf("subject %q body %q", subject, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %q lacks %q", body, w)
				}
			}
		})
	}
	if _, _, err := set.Render("nope", "en", "email", nil); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown template: err = %v", err)
	}
}
