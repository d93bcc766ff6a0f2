package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The account API (/api/user): the same person as the DOSS profile, seen
// with wallet balances, points and order figures. JSON names are the ones
// the app parses (including next_Tss_Money_To_Expire and referal_code);
// never rename them.

// Amount is money or points in minor units (hundredths). It is written as a
// number with exactly two decimals (150.5 → 150.50), so no float ever holds
// a balance.
type Amount int64

func (a Amount) String() string {
	sign := ""
	v := int64(a)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

func (a Amount) MarshalJSON() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalJSON reads a number with at most two decimals exactly (the
// gateway decodes what profile wrote), never through a float.
func (a *Amount) UnmarshalJSON(data []byte) error {
	s := string(data)
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac) > 2 || whole == "" || strings.Trim(whole+frac, "0123456789") != "" {
		return &json.UnmarshalTypeError{Value: "number " + s, Type: reflect.TypeOf(*a)}
	}
	frac += strings.Repeat("0", 2-len(frac))
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "number " + s, Type: reflect.TypeOf(*a)}
	}
	if neg {
		v = -v
	}
	*a = Amount(v)
	return nil
}

// AccountProfile is GET /api/user/profile. Birthdate and the expiry dates
// are YYYY-MM-DD or null; HasPassword and IsTwoFA are 1 or 0.
type AccountProfile struct {
	UserID               int64   `json:"user_id"`
	FirstName            string  `json:"firstname"`
	LastName             string  `json:"lastname"`
	Email                string  `json:"email"`
	Telephone            string  `json:"telephone"`
	Gender               *string `json:"gender"`
	Birthdate            *string `json:"birthdate"`
	Cashback             Amount  `json:"cashback"`
	TSSMoney             Amount  `json:"tss_money"`
	TSSPoints            Amount  `json:"tss_points"`
	NextTSSMoneyToExpire Amount  `json:"next_Tss_Money_To_Expire"`
	TSSMoneyExpiry       *string `json:"tss_money_expiry"`
	NextTSSPointToExpire Amount  `json:"next_Tss_Point_To_Expire"`
	TSSPointExpiry       *string `json:"tss_point_expiry"`
	OrderCount           int     `json:"order_count"`
	TotalSpending        Amount  `json:"total_spending"`
	SuccessfulOrders     int     `json:"successful_orders"`
	DisableBirthdate     bool    `json:"disable_birthdate"`
	HasPassword          int     `json:"has_password"`
	IsTwoFA              int     `json:"is_two_fa"`
	ReferalCode          string  `json:"referal_code"`
}

// Flag is 1 for true and 0 for false, as the app expects.
func Flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AccountProfileRequest asks for the caller's account profile; Platform is
// "web" or "mobile".
type AccountProfileRequest struct {
	Platform string `json:"platform"`
}

// AccountUpdateRequest is POST /api/user/profile and, with IsTwoFA,
// POST /api/user/profile/2fa. Birthdate "0000-00-00" leaves it as it is.
type AccountUpdateRequest struct {
	FirstName string    `json:"firstname"`
	LastName  string    `json:"lastname"`
	Gender    string    `json:"gender"`
	Birthdate string    `json:"birthdate"`
	Telephone string    `json:"telephone"`
	Email     string    `json:"email"`
	IsTwoFA   *FlexBool `json:"is_two_fa"`
}

// FlexBool reads true/false, 1/0 and their quoted forms, as apps send
// booleans either way.
type FlexBool bool

func (b *FlexBool) UnmarshalJSON(data []byte) error {
	s := string(bytes.Trim(data, `"`))
	v, err := strconv.ParseBool(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: string(data), Type: boolType}
	}
	*b = FlexBool(v)
	return nil
}

var boolType = reflect.TypeOf(true)

// AccountUpdateReply is either the updated profile or, when a telephone or
// 2FA change waits for a code, where the code went.
type AccountUpdateReply struct {
	Updated *AccountUpdated `json:"updated,omitempty"`
	OTPSent *AccountOTPSent `json:"otp_sent,omitempty"`
}

// AccountUpdated is the profile after a change that needed no code.
type AccountUpdated struct {
	AccountProfile
	IsProfileUpdated bool `json:"is_profile_updated"`
	ValidTokenCount  int  `json:"valid_token_count"`
}

// AccountOTPSent answers a change that waits for the code sent by SMS; the
// other fields of the request are already saved.
type AccountOTPSent struct {
	Telephone        string `json:"telephone"`
	IsOTPSent        bool   `json:"is_otp_sent"`
	Message          string `json:"message"`
	DisableBirthdate bool   `json:"disable_birthdate"`
	// VerificationCode is only set in dev mode.
	VerificationCode string `json:"verification_code,omitempty"`
}

// AccountVerifyOTPRequest is POST /api/user/profile/verify-otp.
type AccountVerifyOTPRequest struct {
	Telephone string `json:"telephone"`
	OTP       string `json:"otp"`
}

// AccountVerified is the profile after the pending change, with a new
// token when the telephone changed.
type AccountVerified struct {
	AccountProfile
	ValidTokenCount int    `json:"valid_token_count"`
	AccessToken     string `json:"access_token,omitempty"`
}

// Wallet balances, entries and order statuses.
const (
	BalanceCashback  = "cashback"
	BalanceTSSMoney  = "tss_money"
	BalanceTSSPoints = "tss_points"

	EntryCredit = "credit"
	EntryDebit  = "debit"

	OrderPlaced    = "placed"
	OrderCompleted = "completed"
	OrderCancelled = "cancelled"
)

// WalletPosted is the data of an EventWalletPosted event (and the body of
// POST /admin/v1/users/{id}/wallet): one credit or debit of a balance.
//
// ID is the sender's idempotency id: every event carrying the same ID
// counts once, however often it is delivered or replayed. Amount is in
// minor units (hundredths: 1050 = 10.50) and positive. A credit may expire
// at ExpiresAt; from that instant what is left of it no longer counts.
// Debits consume unexpired credits earliest expiry first and never take a
// balance below zero: what they cannot take is recorded as a shortfall.
// At is when it happened (default: when the event was published).
type WalletPosted struct {
	ID        string     `json:"id"`
	UserID    int64      `json:"user_id"`
	Balance   string     `json:"balance"` // cashback, tss_money or tss_points
	Entry     string     `json:"entry"`   // credit or debit
	Amount    int64      `json:"amount"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	At        time.Time  `json:"at,omitzero"`
	Reason    string     `json:"reason,omitempty"`
}

// OrderPosted is the data of an EventOrderPosted event (and the body of
// POST /admin/v1/users/{id}/orders): an order reached a status. ID is the
// idempotency id as for WalletPosted; Amount is the order total in minor
// units. An order's latest status counts: completed orders make
// successful_orders and total_spending; every order makes order_count.
type OrderPosted struct {
	ID      string    `json:"id"`
	UserID  int64     `json:"user_id"`
	OrderID string    `json:"order_id"`
	Status  string    `json:"status"` // placed, completed or cancelled
	Amount  int64     `json:"amount"`
	At      time.Time `json:"at,omitzero"`
}

// WalletPostReply says what a wallet posting did.
type WalletPostReply struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
	// Shortfall is what a debit could not take; Flagged when it is not 0.
	Shortfall Amount `json:"shortfall"`
	Flagged   bool   `json:"flagged"`
	Cashback  Amount `json:"cashback"`
	TSSMoney  Amount `json:"tss_money"`
	TSSPoints Amount `json:"tss_points"`
}

// OrderPostReply says what an order posting did.
type OrderPostReply struct {
	ID               string `json:"id"`
	Duplicate        bool   `json:"duplicate"`
	OrderCount       int    `json:"order_count"`
	TotalSpending    Amount `json:"total_spending"`
	SuccessfulOrders int    `json:"successful_orders"`
}
