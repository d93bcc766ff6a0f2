package profilesvc

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/service"
	"github.com/dossapp/backend/pkg/uploads"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// routes lists every profile endpoint and who may call it. The user rows
// act on the authenticated caller the gateway vouched for.
func routes(svc *app.Service, js jetstream.JetStream) []service.Endpoint {
	return []service.Endpoint{
		service.On(service.User, contract.ProfileGet, func(ctx context.Context, c natsx.Caller, _ contract.ProfileGetRequest) (contract.Profile, error) {
			return svc.Get(ctx, c.UserID)
		}),
		service.On(service.User, contract.ProfileUpdateName, func(ctx context.Context, c natsx.Caller, r contract.UpdateNameRequest) (contract.Profile, error) {
			return svc.UpdateName(ctx, c.UserID, r)
		}),
		service.On(service.User, contract.ProfileUpdateEmail, func(ctx context.Context, c natsx.Caller, r contract.UpdateEmailRequest) (contract.Profile, error) {
			return svc.UpdateEmail(ctx, c.UserID, r)
		}),
		service.On(service.User, contract.ProfileUpdatePhone, func(ctx context.Context, c natsx.Caller, r contract.UpdatePhoneRequest) (contract.Profile, error) {
			return svc.UpdatePhone(ctx, c.UserID, r)
		}),
		service.On(service.User, contract.ProfileVerifyContact, func(ctx context.Context, c natsx.Caller, r contract.VerifyContactRequest) (contract.Profile, error) {
			return svc.VerifyContact(ctx, c.UserID, r)
		}),
		service.OnRaw(service.User, contract.ProfileUpdateImage, func(ctx context.Context, c natsx.Caller, body []byte) (contract.Profile, error) {
			data, err := uploads.Take(ctx, js, uploads.ProfileBucket, string(body), "image", maxUpload)
			if err != nil {
				return contract.Profile{}, err
			}
			return svc.UpdateImage(ctx, c.UserID, data)
		}),
		// The documents service sends it as the user whose documents changed.
		service.On(service.User, contract.ProfileApplyDocuments, func(ctx context.Context, c natsx.Caller, snap contract.DocumentsSnapshot) (struct{}, error) {
			if c.UserID != snap.UserID {
				return struct{}{}, contract.Errorf(contract.Forbidden, "That is another user's profile.")
			}
			return struct{}{}, svc.ApplyDocuments(ctx, snap)
		}),

		// The identity pass: the owner's rows, then anyone's.
		service.On(service.User, contract.ProfilePassIssue, func(ctx context.Context, c natsx.Caller, r contract.PassIssueRequest) (contract.PassIssueReply, error) {
			return svc.IssuePass(ctx, c.UserID, r)
		}),
		service.On(service.User, contract.ProfilePassRevoke, func(ctx context.Context, c natsx.Caller, _ struct{}) (struct{}, error) {
			return struct{}{}, svc.RevokePasses(ctx, c.UserID)
		}),
		service.On(service.User, contract.ProfilePassVerifications, func(ctx context.Context, c natsx.Caller, _ struct{}) (contract.PassVerificationsReply, error) {
			return svc.PassVerifications(ctx, c.UserID)
		}),
		service.On(service.Public, contract.ProfilePassVerify, func(ctx context.Context, _ natsx.Caller, r contract.PassVerifyRequest) (contract.PassVerifyReply, error) {
			return svc.VerifyPass(ctx, r)
		}),
		service.On(service.Public, contract.ProfilePassPhoto, func(ctx context.Context, _ natsx.Caller, r contract.PassVerifyRequest) (contract.PassPhotoReply, error) {
			return svc.PassPhoto(ctx, r)
		}),
		service.On(service.Public, contract.ProfilePassKeys, func(context.Context, natsx.Caller, struct{}) (contract.PassKeysReply, error) {
			return svc.PassKeySet(), nil
		}),

		// The account API (/api/user) and the staff's rows.
		service.On(service.Admin, contract.ProfileAdminGet, func(ctx context.Context, _ natsx.Caller, r contract.AdminUserIDRequest) (contract.AdminProfile, error) {
			return svc.AdminGet(ctx, r.UserID)
		}),
		service.On(service.User, contract.AccountGet, func(ctx context.Context, c natsx.Caller, r contract.AccountProfileRequest) (contract.AccountProfile, error) {
			return svc.AccountProfile(ctx, c.UserID, r.Platform)
		}),
		service.On(service.User, contract.AccountUpdate, func(ctx context.Context, c natsx.Caller, r contract.AccountUpdateRequest) (contract.AccountUpdateReply, error) {
			return svc.UpdateAccount(ctx, c.UserID, r, false)
		}),
		service.On(service.User, contract.AccountUpdate2FA, func(ctx context.Context, c natsx.Caller, r contract.AccountUpdateRequest) (contract.AccountUpdateReply, error) {
			return svc.UpdateAccount(ctx, c.UserID, r, true)
		}),
		service.On(service.User, contract.AccountVerifyOTP, func(ctx context.Context, c natsx.Caller, r contract.AccountVerifyOTPRequest) (contract.AccountVerified, error) {
			return svc.VerifyOTP(ctx, c.UserID, r)
		}),
		service.On(service.User, contract.ProfileExport, func(ctx context.Context, c natsx.Caller, _ contract.ExportRequest) (contract.ProfileExportPart, error) {
			return svc.Export(ctx, c.UserID)
		}),
		service.On(service.Admin, contract.AccountWalletPost, func(ctx context.Context, _ natsx.Caller, r contract.WalletPosted) (contract.WalletPostReply, error) {
			return svc.Wallet.PostWallet(ctx, r)
		}),
		service.On(service.Admin, contract.AccountOrderPost, func(ctx context.Context, _ natsx.Caller, r contract.OrderPosted) (contract.OrderPostReply, error) {
			return svc.Wallet.PostOrder(ctx, r)
		}),
	}
}
