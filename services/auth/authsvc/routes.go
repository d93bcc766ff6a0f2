package authsvc

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/service"
	"github.com/dossapp/backend/services/auth/internal/app"
)

// routes lists every auth endpoint and who may call it. Staff signing in
// needs no caller (the gateway is the only bus user that may publish those
// subjects); managing staff needs an admin caller who is an enabled
// admin-role member here.
func routes(svc *app.Service, st *app.Staff) []service.Endpoint {
	return []service.Endpoint{
		service.On(service.Public, contract.AuthEmailSendOTP, service.Plain(svc.EmailSendOTP)),
		service.On(service.Public, contract.AuthEmailVerifyOTP, service.Plain(svc.EmailVerifyOTP)),
		service.On(service.Public, contract.AuthPhoneSendOTP, service.Plain(svc.PhoneSendOTP)),
		service.On(service.Public, contract.AuthPhoneVerifyOTP, service.Plain(svc.PhoneVerifyOTP)),
		service.On(service.Public, contract.AuthSetPIN, service.Plain(svc.SetPIN)),
		service.On(service.Public, contract.AuthConfirmPIN, func(ctx context.Context, c natsx.Caller, r contract.ConfirmPINRequest) (contract.Session, error) {
			return svc.ConfirmPIN(ctx, r, c.Client)
		}),
		service.On(service.Public, contract.AuthLogin, func(ctx context.Context, c natsx.Caller, r contract.LoginRequest) (contract.LoginReply, error) {
			return svc.Login(ctx, r, c.Client)
		}),
		service.On(service.Public, contract.AuthLoginVerifyOTP, func(ctx context.Context, c natsx.Caller, r contract.LoginVerifyOTPRequest) (contract.Session, error) {
			return svc.LoginVerifyOTP(ctx, r, c.Client)
		}),
		service.On(service.Public, contract.AuthForgotPIN, func(ctx context.Context, _ natsx.Caller, r contract.ForgotPINRequest) (struct{}, error) {
			return struct{}{}, svc.ForgotPIN(ctx, r)
		}),
		service.On(service.Public, contract.AuthResetPIN, func(ctx context.Context, c natsx.Caller, r contract.ResetPINRequest) (contract.Session, error) {
			return svc.ResetPIN(ctx, r, c.Client)
		}),
		service.On(service.Public, contract.AuthKeys, func(context.Context, natsx.Caller, struct{}) (contract.KeysReply, error) {
			return svc.Signer.Keys(), nil
		}),
		// Profile and documents read the account of the user they serve.
		service.On(service.Peer, contract.AuthAccountGet, service.Plain(svc.AccountGet)),

		service.On(service.User, contract.AuthLogout, func(ctx context.Context, c natsx.Caller, _ contract.LogoutRequest) (struct{}, error) {
			return struct{}{}, svc.Logout(ctx, c.Principal)
		}),
		service.On(service.User, contract.AuthChangeEmail, func(ctx context.Context, c natsx.Caller, r contract.ChangeEmailRequest) (contract.Account, error) {
			if err := ownAccount(c, r.UserID); err != nil {
				return contract.Account{}, err
			}
			return svc.ChangeEmail(ctx, r)
		}),
		service.On(service.User, contract.AuthChangePhone, func(ctx context.Context, c natsx.Caller, r contract.ChangePhoneRequest) (contract.Account, error) {
			if err := ownAccount(c, r.UserID); err != nil {
				return contract.Account{}, err
			}
			return svc.ChangePhone(ctx, r)
		}),
		service.On(service.User, contract.AuthChangePassword, service.AsPrincipal(svc.ChangePassword)),
		service.On(service.User, contract.AuthSessionsList, service.AsPrincipal(svc.SessionsList)),
		service.On(service.User, contract.AuthSessionRevoke, func(ctx context.Context, c natsx.Caller, r contract.SessionRevokeRequest) (struct{}, error) {
			return struct{}{}, svc.SessionRevoke(ctx, c.Principal, r)
		}),
		service.On(service.User, contract.AuthTwoFAStart, service.AsPrincipal(svc.TwoFAStart)),
		service.On(service.User, contract.AuthTwoFAVerify, service.AsPrincipal(svc.TwoFAVerify)),
		service.On(service.User, contract.AuthVerifyContact, service.AsPrincipal(svc.VerifyContact)),
		service.On(service.User, contract.AuthExportDone, service.AsPrincipal(svc.ExportDone)),
		service.On(service.User, contract.AuthAccountDelete, service.AsPrincipal(svc.RequestDeletion)),
		// The user's export: the account's part and the staff actions
		// about the user from the audit trail kept here.
		service.On(service.User, contract.AuthExport, func(ctx context.Context, c natsx.Caller, r contract.ExportRequest) (contract.AuthExportPart, error) {
			part, err := svc.Export(ctx, c.Principal, r)
			if err != nil {
				return part, err
			}
			part.Audit, err = st.AuditAbout(ctx, c.UserID)
			return part, err
		}),

		service.On(service.Public, contract.AuthStaffLogin, func(ctx context.Context, c natsx.Caller, r contract.StaffLoginRequest) (contract.StaffSession, error) {
			return st.Login(ctx, r, c.Client)
		}),
		service.On(service.Public, contract.AuthStaffSession, service.Plain(st.Session)),
		service.On(service.Public, contract.AuthStaffLogout, func(ctx context.Context, _ natsx.Caller, r contract.StaffSessionRequest) (struct{}, error) {
			return struct{}{}, st.Logout(ctx, r)
		}),
		service.On(service.Admin, contract.AuthStaffList, staffAdmin(st, func(ctx context.Context, _ string, _ struct{}) (contract.StaffList, error) {
			return st.List(ctx)
		})),
		service.On(service.Admin, contract.AuthStaffCreate, staffAdmin(st, st.Create)),
		service.On(service.Admin, contract.AuthStaffUpdate, staffAdmin(st, st.Update)),
		service.On(service.Admin, contract.AuthAuditList, service.Plain(st.AuditList)),
		service.On(service.Admin, contract.AuthAdminUser, service.Plain(svc.AdminUser)),
		service.On(service.Admin, contract.AuthAdminSessionsRevoke, service.Plain(svc.AdminSessionsRevoke)),
		service.On(service.Admin, contract.AuthAdminUnlock, service.Plain(svc.AdminUnlock)),
		service.On(service.Admin, contract.AuthDeletionsList, service.Plain(svc.DeletionsList)),
		service.On(service.Admin, contract.AuthDeletionCancel, func(ctx context.Context, c natsx.Caller, r contract.DeletionCancelRequest) (contract.AdminDeletion, error) {
			return svc.CancelDeletion(ctx, c.Admin, r)
		}),
	}
}

// ownAccount refuses a contact change for anyone but the authenticated
// caller the gateway vouched for.
func ownAccount(c natsx.Caller, userID int64) error {
	if c.UserID != userID {
		return contract.Errorf(contract.Forbidden, "You may only change your own account.")
	}
	return nil
}

// staffAdmin is fn for an admin caller who is an enabled admin-role
// member, named as fn's first argument: only they manage staff over the
// bus (make admin, on the host with the store's credentials, calls app.Staff
// directly).
func staffAdmin[Req, Resp any](st *app.Staff, fn func(ctx context.Context, admin string, req Req) (Resp, error)) func(context.Context, natsx.Caller, Req) (Resp, error) {
	return func(ctx context.Context, c natsx.Caller, req Req) (Resp, error) {
		var zero Resp
		ok, err := st.IsAdmin(ctx, c.Admin)
		if err != nil {
			return zero, err
		}
		if !ok {
			return zero, contract.Errorf(contract.Forbidden, "Only an admin may manage staff.")
		}
		return fn(ctx, c.Admin, req)
	}
}
