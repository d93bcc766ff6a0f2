package domain

import "time"

// Challenge is a step waiting for a code sent by SMS: a login with 2FA on
// (purpose PurposeLogin2FA) or a pending change of telephone and/or 2FA
// setting (PurposeProfile2FA). It is written once and answered by exactly
// the code OTPID names; that code's own ledgers (see checkCode) cap its
// checks and make it single use, which makes the challenge single use.
type Challenge struct {
	ID      string `bson:"_id"`
	Purpose string `bson:"purpose"`
	UUID    string `bson:"uuid"`
	UserID  int64  `bson:"user_id"`
	// Phone is where the code went: the account's number for a login or a
	// 2FA switch, the wanted number for a telephone change.
	Phone string `bson:"phone"`
	OTPID string `bson:"otp_id"`
	// Stamp is the secret the challenge was granted under (secretStamp).
	Stamp     string    `bson:"stamp"`
	Device    string    `bson:"device,omitempty"`
	TwoFA     *bool     `bson:"two_fa,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}
