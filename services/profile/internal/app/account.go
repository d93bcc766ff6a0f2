package app

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/natsx"
)

// TwoFA is auth's confirmation, by a code sent by SMS, of a telephone or
// 2FA change (natsx.Call in production).
type TwoFA interface {
	TwoFAStart(ctx context.Context, req contract.TwoFAStartRequest) (contract.TwoFAStartReply, error)
	TwoFAVerify(ctx context.Context, req contract.TwoFAVerifyRequest) (contract.TwoFAVerifyReply, error)
}

// OTPSentMessage is what the app shows when a change waits for a code.
const OTPSentMessage = "OTP Sent successfully!"

// Genders are the values gender may take.
var Genders = []string{"male", "female", "other"}

// BirthdateSkip in a request leaves the birthdate as it is.
const BirthdateSkip = "0000-00-00"

// AccountProfile answers GET /api/user/profile: the profile, auth's
// account flags and the wallet and order figures as of now.
func (s *Service) AccountProfile(ctx context.Context, userID int64, platform string) (contract.AccountProfile, error) {
	if platform = strings.ToLower(strings.TrimSpace(platform)); platform != "" && platform != "web" && platform != "mobile" {
		return contract.AccountProfile{}, contract.FieldError("platform", "The platform must be web or mobile.")
	}
	p, err := s.load(ctx, userID)
	if err != nil {
		return contract.AccountProfile{}, err
	}
	acc, err := s.Accounts(ctx, userID)
	if err != nil {
		return contract.AccountProfile{}, err
	}
	return s.view(ctx, p, acc)
}

// view composes the account profile, giving the user a referral code the
// first time it is shown.
func (s *Service) view(ctx context.Context, p Profile, acc contract.Account) (contract.AccountProfile, error) {
	code, err := s.Wallet.ReferralCode(ctx, p.UserID, p.ReferralCode)
	if err != nil {
		return contract.AccountProfile{}, err
	}
	f, err := s.Wallet.Figures(ctx, p.UserID)
	if err != nil {
		return contract.AccountProfile{}, err
	}
	money, points := f.Balances[contract.BalanceTSSMoney], f.Balances[contract.BalanceTSSPoints]
	return contract.AccountProfile{
		UserID: p.UserID, FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Telephone: p.Phone,
		Gender: orNull(p.Gender), Birthdate: orNull(p.Birthdate),
		Cashback:             contract.Amount(f.Balances[contract.BalanceCashback].Available),
		TSSMoney:             contract.Amount(money.Available),
		TSSPoints:            contract.Amount(points.Available),
		NextTSSMoneyToExpire: contract.Amount(money.NextToExpire), TSSMoneyExpiry: money.NextExpiry,
		NextTSSPointToExpire: contract.Amount(points.NextToExpire), TSSPointExpiry: points.NextExpiry,
		OrderCount: f.OrderCount, TotalSpending: contract.Amount(f.TotalSpending), SuccessfulOrders: f.SuccessfulOrders,
		DisableBirthdate: p.Birthdate != "",
		HasPassword:      contract.Flag(acc.HasPassword), IsTwoFA: contract.Flag(acc.TwoFA),
		ReferalCode: code,
	}, nil
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// accountChange is a checked AccountUpdateRequest.
type accountChange struct {
	first, last, gender, birthdate, telephone, email string
	twoFA                                            *bool
}

// ValidateAccountUpdate checks the request's shape, naming every bad
// field; withTwoFA requires is_two_fa (POST /api/user/profile/2fa).
func ValidateAccountUpdate(req contract.AccountUpdateRequest, withTwoFA bool, today time.Time) (accountChange, error) {
	var v contract.Validation
	c := accountChange{
		first:     checkName(&v, "firstname", "firstname", req.FirstName),
		last:      checkName(&v, "lastname", "lastname", req.LastName),
		gender:    strings.ToLower(strings.TrimSpace(req.Gender)),
		telephone: strings.TrimSpace(req.Telephone),
		email:     strings.TrimSpace(req.Email),
	}
	switch {
	case c.gender == "":
		v.Add("gender", "The gender field is required.")
	case !contains(Genders, c.gender):
		v.Add("gender", "The gender must be one of "+strings.Join(Genders, ", ")+".")
	}
	c.birthdate = checkBirthdate(&v, strings.TrimSpace(req.Birthdate), today)
	if c.telephone == "" {
		v.Add("telephone", "The telephone field is required.")
	} else if len(c.telephone) > 32 || digits(c.telephone) == "" || !phoneChars(c.telephone) {
		v.Add("telephone", "The telephone must be a valid phone number including the country dial code, e.g. +18681234567.")
	}
	if len(c.email) > 254 {
		v.Add("email", "The email may not be greater than 254 characters.")
	}
	if req.IsTwoFA != nil {
		b := bool(*req.IsTwoFA)
		c.twoFA = &b
	} else if withTwoFA {
		v.Add("is_two_fa", "The is two fa field is required.")
	}
	return c, v.Err()
}

// checkBirthdate returns the date to store, or "" for "leave it".
func checkBirthdate(v *contract.Validation, raw string, today time.Time) string {
	if raw == BirthdateSkip {
		return ""
	}
	if raw == "" {
		v.Add("birthdate", "The birthdate field is required.")
		return ""
	}
	d, err := time.Parse(time.DateOnly, raw)
	switch {
	case err != nil || d.Format(time.DateOnly) != raw:
		v.Add("birthdate", "The birthdate must be a real date in the format YYYY-MM-DD, or 0000-00-00 to skip it.")
	case !d.Before(today.UTC().Truncate(24 * time.Hour)):
		v.Add("birthdate", "The birthdate must be a date before today.")
	case d.Year() < 1900:
		v.Add("birthdate", "The birthdate must be after 1900.")
	default:
		return raw
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lockedBirthdate refuses a change of a birthdate once it is set; sending
// the same date again (the app sends every field) is no change.
func lockedBirthdate(stored, wanted string) error {
	if stored != "" && wanted != "" && wanted != stored {
		return contract.FieldError("birthdate", "The birthdate can no longer be changed.")
	}
	return nil
}

// UpdateAccount is POST /api/user/profile (withTwoFA false) and
// POST /api/user/profile/2fa (withTwoFA true). A telephone change (2FA on
// or off: nobody's number is taken without a code that reached it), and
// with withTwoFA a 2FA change, waits for a code that auth sends to the new
// number (verify-otp); the other fields are saved at once. Auth settles who
// owns a telephone or email; profile records what auth accepted.
func (s *Service) UpdateAccount(ctx context.Context, userID int64, req contract.AccountUpdateRequest, withTwoFA bool) (contract.AccountUpdateReply, error) {
	c, err := ValidateAccountUpdate(req, withTwoFA, s.now())
	if err != nil {
		return contract.AccountUpdateReply{}, err
	}
	p, err := s.load(ctx, userID)
	if err != nil {
		return contract.AccountUpdateReply{}, err
	}
	if err := lockedBirthdate(p.Birthdate, c.birthdate); err != nil {
		return contract.AccountUpdateReply{}, err
	}
	newEmail := c.email != "" && !strings.EqualFold(c.email, p.Email)
	if newEmail && p.Email != "" {
		return contract.AccountUpdateReply{}, contract.FieldError("email", "The email cannot be changed here.")
	}
	acc, err := s.Accounts(ctx, userID)
	if err != nil {
		return contract.AccountUpdateReply{}, err
	}
	newPhone := digits(c.telephone) != digits(p.Phone)
	var wantTwoFA *bool
	if withTwoFA && *c.twoFA != acc.TwoFA {
		wantTwoFA = c.twoFA
	}
	if newPhone || wantTwoFA != nil {
		start := contract.TwoFAStartRequest{UserID: userID, IsTwoFA: wantTwoFA}
		if newPhone {
			start.Telephone = c.telephone
		}
		r, err := s.TwoFA.TwoFAStart(ctx, start)
		if err != nil {
			return contract.AccountUpdateReply{}, renameFields(err)
		}
		if r.OTPSent {
			p, err := s.saveAccount(ctx, userID, c, newEmail)
			if err != nil {
				return contract.AccountUpdateReply{}, err
			}
			return contract.AccountUpdateReply{OTPSent: &contract.AccountOTPSent{
				Telephone: r.Telephone, IsOTPSent: true, Message: OTPSentMessage,
				DisableBirthdate: p.Birthdate != "", VerificationCode: r.VerificationCode,
			}}, nil
		}
	}
	p, err = s.saveAccount(ctx, userID, c, newEmail)
	if err != nil {
		return contract.AccountUpdateReply{}, err
	}
	if newEmail {
		if acc, err = s.Accounts(ctx, userID); err != nil {
			return contract.AccountUpdateReply{}, err
		}
	}
	view, err := s.view(ctx, p, acc)
	if err != nil {
		return contract.AccountUpdateReply{}, err
	}
	return contract.AccountUpdateReply{Updated: &contract.AccountUpdated{AccountProfile: view, IsProfileUpdated: true, ValidTokenCount: acc.ValidTokenCount}}, nil
}

// saveAccount records the fields with the email (when withEmail) that auth
// then waits to verify: an email is only set here on accounts that have
// none, and like any new address it waits for its code (verify_contact).
// The telephone never changes here: it waits for its code (verify-otp).
func (s *Service) saveAccount(ctx context.Context, userID int64, c accountChange, withEmail bool) (Profile, error) {
	var email *contract.Account
	if withEmail {
		acc, err := s.Contacts.ChangeEmail(ctx, contract.ChangeEmailRequest{UserID: userID, NewEmail: c.email})
		if err != nil {
			return Profile{}, renameFields(err)
		}
		email = &acc
	}
	return s.change(ctx, userID, func(p *Profile) {
		p.FirstName, p.LastName, p.Gender = c.first, c.last, c.gender
		if p.Birthdate == "" {
			p.Birthdate = c.birthdate
		}
		if email != nil {
			p.setContacts(*email)
		}
	})
}

// change stores the next version when it differs from the newest, with
// its profile.updated event (the DOSS profile shares names and phone), has
// the reply say the profile changed, and returns the newest state. The
// reply says so when the store already held the change too: an event's
// consumer may have written it a moment before the command did, and the
// command's caller must still drop its copy (an unchanged profile costs
// the caller one uncached read, never a stale one).
func (s *Service) change(ctx context.Context, userID int64, apply func(*Profile)) (Profile, error) {
	p, err := s.Profiles.Update(ctx, userID, func(p *Profile) ([]contract.Event, error) {
		before := *p
		apply(p)
		if reflect.DeepEqual(*p, before) { // VerifiedDocuments is a slice
			return nil, errUnchanged
		}
		names, err := namesChanged(ctx, before, p)
		if err != nil {
			return nil, err
		}
		ev, err := events.New(ctx, contract.EventProfileUpdated, contract.ProfileUpdated{UserID: p.UserID, UUID: p.UUID})
		if err != nil {
			return nil, err
		}
		return append(names, ev), nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return p, contract.StoreUnavailable("profile update", err)
	case err != nil && !errors.Is(err, errUnchanged):
		return p, err
	}
	natsx.ProfileChanged(ctx, userID)
	return p, nil
}

// renameFields gives auth's field names the account API's.
func renameFields(err error) error {
	var e *contract.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	names := map[string]string{"new_phone": "telephone", "phone": "telephone", "new_email": "email"}
	out := *e
	out.Fields = map[string][]string{}
	for f, msgs := range e.Fields {
		if n, ok := names[f]; ok {
			for i, m := range msgs {
				msgs[i] = strings.ReplaceAll(strings.ReplaceAll(m, "new phone", "telephone"), "new email", "email")
			}
			if out.Message == e.Message {
				out.Message = msgs[0]
			}
			f = n
		}
		out.Fields[f] = msgs
	}
	return &out
}

// VerifyOTP is POST /api/user/profile/verify-otp: auth applies the
// pending change if the code is right, and profile records the telephone
// it now has.
func (s *Service) VerifyOTP(ctx context.Context, userID int64, req contract.AccountVerifyOTPRequest) (contract.AccountVerified, error) {
	var v contract.Validation
	if strings.TrimSpace(req.Telephone) == "" {
		v.Add("telephone", "The telephone field is required.")
	}
	if strings.TrimSpace(req.OTP) == "" {
		v.Add("otp", "The otp field is required.")
	}
	if err := v.Err(); err != nil {
		return contract.AccountVerified{}, err
	}
	if _, err := s.load(ctx, userID); err != nil {
		return contract.AccountVerified{}, err
	}
	r, err := s.TwoFA.TwoFAVerify(ctx, contract.TwoFAVerifyRequest{UserID: userID, Telephone: strings.TrimSpace(req.Telephone), OTP: strings.TrimSpace(req.OTP)})
	if err != nil {
		return contract.AccountVerified{}, renameFields(err)
	}
	acc := r.Account
	p, err := s.change(ctx, userID, func(p *Profile) {
		if acc.Phone != "" {
			p.setContacts(acc)
		}
	})
	if err != nil {
		return contract.AccountVerified{}, err
	}
	view, err := s.view(ctx, p, acc)
	if err != nil {
		return contract.AccountVerified{}, err
	}
	out := contract.AccountVerified{AccountProfile: view, ValidTokenCount: acc.ValidTokenCount}
	if r.Session != nil {
		out.AccessToken = r.Session.Token
	}
	return out, nil
}

// EnsureProfile makes sure the user has a profile, creating it from auth's
// account the first time, so a posting names someone.
func (s *Service) EnsureProfile(ctx context.Context, userID int64) error {
	_, err := s.load(ctx, userID)
	return err
}

// KeepReferralCode makes code the user's referral code unless they have
// one, and returns the one they keep: the profile's version chain keeps
// one code per user.
func (s *Service) KeepReferralCode(ctx context.Context, userID int64, code string) (string, error) {
	got, err := s.Profiles.Update(ctx, userID, func(p *Profile) ([]contract.Event, error) {
		if p.ReferralCode != "" {
			return nil, errUnchanged
		}
		p.ReferralCode = code
		return nil, nil
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	return got.ReferralCode, err
}
