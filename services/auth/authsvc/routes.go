package authsvc

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/auth/internal/app"
)

// routes lists every auth endpoint in one place.
func routes(ms *natsx.Service, svc *app.Service) error {
	for _, add := range []func() error{
		func() error { return natsx.Handle(ms, contract.AuthEmailSendOTP, svc.EmailSendOTP) },
		func() error { return natsx.Handle(ms, contract.AuthEmailVerifyOTP, svc.EmailVerifyOTP) },
		func() error { return natsx.Handle(ms, contract.AuthPhoneSendOTP, svc.PhoneSendOTP) },
		func() error { return natsx.Handle(ms, contract.AuthPhoneVerifyOTP, svc.PhoneVerifyOTP) },
		func() error { return natsx.Handle(ms, contract.AuthSetPIN, svc.SetPIN) },
		func() error {
			return natsx.Handle(ms, contract.AuthConfirmPIN, func(ctx context.Context, r contract.ConfirmPINRequest) (contract.Session, error) {
				return svc.ConfirmPIN(ctx, r, natsx.CallerFrom(ctx).Client)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AuthLogin, func(ctx context.Context, r contract.LoginRequest) (contract.LoginReply, error) {
				return svc.Login(ctx, r, natsx.CallerFrom(ctx).Client)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AuthLogout, func(ctx context.Context, _ contract.LogoutRequest) (struct{}, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return struct{}{}, err
				}
				return struct{}{}, svc.Logout(ctx, c.Principal)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AuthKeys, func(context.Context, struct{}) (contract.KeysReply, error) {
				return svc.Signer.Keys(), nil
			})
		},
		func() error { return natsx.Handle(ms, contract.AuthAccountGet, svc.AccountGet) },
	} {
		if err := add(); err != nil {
			return err
		}
	}
	return nil
}
