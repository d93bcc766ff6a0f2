package app

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/dossapp/backend/pkg/contract"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Observer hears of decisions ops must see: where SMS go, and budgets that
// tripped. It may be nil.
type Observer interface {
	SMSSent(country string)
	BudgetTripped(budget, detail string)
}

func (s *Service) tripped(budget, detail string) {
	if s.Observe != nil {
		s.Observe.BudgetTripped(budget, detail)
	}
}

// CountryCode is the calling code of an E.164 number ("1", "44"), or ""
// when it has none.
func CountryCode(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil || num.GetCountryCode() == 0 {
		return ""
	}
	return strconv.Itoa(int(num.GetCountryCode()))
}

// smsBudget takes one registration SMS to phone for email, or refuses it:
// only to the allowed countries (SMSCountries, empty: all); at most
// SMSPerRegistration a day for one email from one client, and twice that
// from everyone but the client that verified the email (verifier: the
// mailbox's holder), whose own cap alone holds it: strangers from two
// client addresses who knew the email filled the shared cap in the hour
// after the owner verified it, and the owner got no phone code for a day.
// At most SMSPerHour an hour in all, a fixed window, so an SMS-pumping run
// through many verified emails is capped in money, not only per email.
func (s *Service) smsBudget(ctx context.Context, field, email, phone, verifier string) error {
	lim := s.Limits
	country := CountryCode(phone)
	if len(lim.SMSCountries) > 0 && !slices.Contains(lim.SMSCountries, country) {
		s.tripped("sms_country", country)
		return contract.FieldError(field, "Text messages cannot be sent to this country.")
	}
	client := s.clientTag(ctx)
	if lim.SMSPerRegistration > 0 {
		_, err := s.Ledger.Append(ctx, "sms:reg:"+email, func(tail domain.Tail, now time.Time) (string, error) {
			// The day holds at most the others' shared cap and the
			// verifier's own on top.
			recent, err := tail.First(3 * lim.SMSPerRegistration)
			if err != nil {
				return "", err
			}
			all, mine := 0, 0
			for _, e := range recent {
				if now.Sub(e.At) >= 24*time.Hour {
					break
				}
				all++
				if who, _, _ := parseSMSKind(e.Kind); who == client {
					mine++
				}
				if mine >= lim.SMSPerRegistration || (client != verifier && all >= 2*lim.SMSPerRegistration) {
					s.tripped("sms_registration", "")
					return "", tooMany(contract.ReasonOverSMSSendRateLimit, field, e.At.Add(24*time.Hour).Sub(now), "Too many text messages for this registration. Please try again later.")
				}
			}
			return "p|" + client + "|" + phone, nil
		})
		if err != nil {
			return err
		}
	}
	if lim.SMSPerHour > 0 {
		hour := s.now().Truncate(time.Hour)
		_, err := s.Ledger.Append(ctx, "sms:hour:"+hour.Format("2006010215"), func(tail domain.Tail, now time.Time) (string, error) {
			if newest, ok, err := tail.At(0); err != nil {
				return "", err
			} else if ok && newest.Seq >= int64(lim.SMSPerHour) {
				s.tripped("sms_hourly", "")
				return "", tooMany(contract.ReasonOverSMSSendRateLimit, field, hour.Add(time.Hour).Sub(now), "Text messages are paused for a while. Please try again later.")
			}
			return "sms", nil
		})
		if err != nil {
			return err
		}
	}
	if s.Observe != nil {
		s.Observe.SMSSent(country)
	}
	return nil
}

func parseSMSKind(kind string) (client, phone string, ok bool) {
	parts := strings.SplitN(kind, "|", 3)
	if len(parts) != 3 || parts[0] != "p" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// registrationPhones are the phones sent a registration SMS for email within
// a code's lifetime, newest first, at most MaxLiveCodes.
func (s *Service) registrationPhones(ctx context.Context, email string) ([]string, error) {
	recent, err := s.within(ctx, "sms:reg:"+email, s.Limits.CodeTTL)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range recent {
		if len(out) == MaxLiveCodes {
			break
		}
		if _, phone, ok := parseSMSKind(e.Kind); ok && !slices.Contains(out, phone) {
			out = append(out, phone)
		}
	}
	return out, nil
}
