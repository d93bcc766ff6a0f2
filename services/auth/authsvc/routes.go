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
		func() error {
			return natsx.Handle(ms, contract.AuthChangeEmail, func(ctx context.Context, r contract.ChangeEmailRequest) (contract.Account, error) {
				if err := sameUser(ctx, r.UserID); err != nil {
					return contract.Account{}, err
				}
				return svc.ChangeEmail(ctx, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AuthChangePhone, func(ctx context.Context, r contract.ChangePhoneRequest) (contract.Account, error) {
				if err := sameUser(ctx, r.UserID); err != nil {
					return contract.Account{}, err
				}
				return svc.ChangePhone(ctx, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AuthLoginVerifyOTP, func(ctx context.Context, r contract.LoginVerifyOTPRequest) (contract.Session, error) {
				return svc.LoginVerifyOTP(ctx, r, natsx.CallerFrom(ctx).Client)
			})
		},
		func() error { return natsx.Handle(ms, contract.AuthChangePassword, asUser(svc.ChangePassword)) },
		func() error { return natsx.Handle(ms, contract.AuthSessionsList, asUser(svc.SessionsList)) },
		func() error {
			return natsx.Handle(ms, contract.AuthSessionRevoke, asUser(func(ctx context.Context, p contract.Principal, r contract.SessionRevokeRequest) (struct{}, error) {
				return struct{}{}, svc.SessionRevoke(ctx, p, r)
			}))
		},
		func() error { return natsx.Handle(ms, contract.AuthTwoFAStart, asUser(svc.TwoFAStart)) },
		func() error { return natsx.Handle(ms, contract.AuthTwoFAVerify, asUser(svc.TwoFAVerify)) },
		func() error { return natsx.Handle(ms, contract.AuthVerifyContact, asUser(svc.VerifyContact)) },
		func() error { return natsx.Handle(ms, contract.AuthExportDone, asUser(svc.ExportDone)) },
		func() error {
			return natsx.Handle(ms, contract.AuthForgotPIN, func(ctx context.Context, r contract.ForgotPINRequest) (struct{}, error) {
				return struct{}{}, svc.ForgotPIN(ctx, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AuthResetPIN, func(ctx context.Context, r contract.ResetPINRequest) (contract.Session, error) {
				return svc.ResetPIN(ctx, r, natsx.CallerFrom(ctx).Client)
			})
		},
		func() error { return natsx.Handle(ms, contract.AuthAccountDelete, asUser(svc.RequestDeletion)) },
		func() error {
			return natsx.Handle(ms, contract.AuthDeletionsList, func(ctx context.Context, r contract.DeletionsListRequest) (contract.DeletionsListReply, error) {
				if _, err := natsx.RequireAdmin(ctx); err != nil {
					return contract.DeletionsListReply{}, err
				}
				return svc.DeletionsList(ctx, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AuthDeletionCancel, func(ctx context.Context, r contract.DeletionCancelRequest) (contract.AdminDeletion, error) {
				c, err := natsx.RequireAdmin(ctx)
				if err != nil {
					return contract.AdminDeletion{}, err
				}
				return svc.CancelDeletion(ctx, c.Admin, r)
			})
		},
	} {
		if err := add(); err != nil {
			return err
		}
	}
	return nil
}

// sameUser refuses a contact change for anyone but the authenticated
// caller the gateway vouched for.
func sameUser(ctx context.Context, userID int64) error {
	c, err := natsx.RequireUser(ctx)
	if err != nil {
		return err
	}
	if c.UserID != userID {
		return contract.Errorf(contract.Forbidden, "You may only change your own account.")
	}
	return nil
}

// asUser serves a command only to an authenticated caller, whose
// principal it hands on.
func asUser[Req, Resp any](fn func(context.Context, contract.Principal, Req) (Resp, error)) natsx.Handler[Req, Resp] {
	return func(ctx context.Context, r Req) (Resp, error) {
		c, err := natsx.RequireUser(ctx)
		if err != nil {
			var zero Resp
			return zero, err
		}
		return fn(ctx, c.Principal, r)
	}
}
