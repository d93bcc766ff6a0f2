package authsvc

import (
	"go.uber.org/zap"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/obs"
)

var (
	otps = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "doss_auth_otp_total",
		Help: "One-time codes by channel (email, phone) and outcome (sent, verified, failed).",
	}, []string{"channel", "outcome"})
	smsSent = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "doss_auth_sms_total",
		Help: "Registration text messages allowed, by destination country calling code.",
	}, []string{"country"})
	budgetsTripped = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "doss_auth_budget_tripped_total",
		Help: "Sends refused by an abuse budget (sms_country, sms_registration, sms_hourly).",
	}, []string{"budget"})
	logins = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "doss_auth_logins_total",
		Help: "PIN logins by outcome (ok, failed, locked).",
	}, []string{"outcome"})
)

// otpSubjects says which channel each code endpoint concerns and whether
// it sends or checks a code.
var otpSubjects = map[string]struct {
	channel string
	sends   bool
}{
	contract.AuthEmailSendOTP:   {"email", true},
	contract.AuthPhoneSendOTP:   {"phone", true},
	contract.AuthEmailVerifyOTP: {"email", false},
	contract.AuthPhoneVerifyOTP: {"phone", false},
	contract.AuthLoginVerifyOTP: {"phone", false},
}

// countOutcome derives the security counters from what the endpoints
// answered, so the handlers need not know about metrics: a refused check
// (wrong, expired or exhausted code; too many failures) is a failure, and
// a login refused with rate_limited is a locked account.
func countOutcome(subject, code string) {
	if s, ok := otpSubjects[subject]; ok {
		switch {
		case code == obs.CodeOK && s.sends:
			otps.WithLabelValues(s.channel, "sent").Inc()
		case code == obs.CodeOK:
			otps.WithLabelValues(s.channel, "verified").Inc()
		case !s.sends && refused(code):
			otps.WithLabelValues(s.channel, "failed").Inc()
		}
		return
	}
	if subject != contract.AuthLogin {
		return
	}
	switch {
	case code == obs.CodeOK:
		logins.WithLabelValues("ok").Inc()
	case code == string(contract.RateLimited):
		logins.WithLabelValues("locked").Inc()
	case refused(code):
		logins.WithLabelValues("failed").Inc()
	}
}

// refused is a code that means the caller's secret or input was turned
// down, not that the system failed.
func refused(code string) bool {
	switch contract.Code(code) {
	case contract.Invalid, contract.Unauthenticated, contract.RateLimited, contract.NotFound, contract.Conflict:
		return true
	}
	return false
}

// budgetLog counts registration SMS per country and logs and counts every
// abuse budget that trips, for the alert an SMS-pumping run should raise.
type budgetLog struct{ log *zap.Logger }

func (b budgetLog) SMSSent(country string) { smsSent.WithLabelValues(country).Inc() }

func (b budgetLog) BudgetTripped(budget, detail string) {
	budgetsTripped.WithLabelValues(budget).Inc()
	b.log.Warn("abuse budget tripped", zap.String("budget", budget), zap.String("detail", detail))
}
