package profilesvc

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/uploads"
	"github.com/dossapp/backend/services/profile/internal/app"
)

// routes lists every profile endpoint in one place. Each acts on the
// authenticated caller the gateway put in the headers.
func routes(ms *natsx.Service, svc *app.Service, js jetstream.JetStream) error {
	for _, add := range []func() error{
		func() error {
			return natsx.Handle(ms, contract.ProfileGet, func(ctx context.Context, _ contract.ProfileGetRequest) (contract.Profile, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.Profile{}, err
				}
				return svc.Get(ctx, c.UserID)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.ProfileUpdateName, func(ctx context.Context, r contract.UpdateNameRequest) (contract.Profile, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.Profile{}, err
				}
				return svc.UpdateName(ctx, c.UserID, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.ProfileUpdateEmail, func(ctx context.Context, r contract.UpdateEmailRequest) (contract.Profile, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.Profile{}, err
				}
				return svc.UpdateEmail(ctx, c.UserID, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.ProfileUpdatePhone, func(ctx context.Context, r contract.UpdatePhoneRequest) (contract.Profile, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.Profile{}, err
				}
				return svc.UpdatePhone(ctx, c.UserID, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.ProfileVerifyContact, func(ctx context.Context, r contract.VerifyContactRequest) (contract.Profile, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.Profile{}, err
				}
				return svc.VerifyContact(ctx, c.UserID, r)
			})
		},
		func() error {
			return natsx.HandleRaw(ms, contract.ProfileUpdateImage, func(ctx context.Context, body []byte) (contract.Profile, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.Profile{}, err
				}
				data, err := uploads.Take(ctx, js, uploads.ProfileBucket, string(body), "image", maxUpload)
				if err != nil {
					return contract.Profile{}, err
				}
				return svc.UpdateImage(ctx, c.UserID, data)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.ProfileApplyDocuments, func(ctx context.Context, snap contract.DocumentsSnapshot) (struct{}, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return struct{}{}, err
				}
				if c.UserID != snap.UserID {
					return struct{}{}, contract.Errorf(contract.Forbidden, "That is another user's profile.")
				}
				return struct{}{}, svc.ApplyDocuments(ctx, snap)
			})
		},
	} {
		if err := add(); err != nil {
			return err
		}
	}
	if err := passRoutes(ms, svc); err != nil {
		return err
	}
	return accountRoutes(ms, svc)
}

// accountRoutes are the account API's endpoints (/api/user and the admin
// postings).
func accountRoutes(ms *natsx.Service, svc *app.Service) error {
	for _, add := range []func() error{
		func() error {
			// Staff read a user's profile through the console.
			return natsx.Handle(ms, contract.ProfileAdminGet, func(ctx context.Context, r contract.AdminUserIDRequest) (contract.Profile, error) {
				if _, err := natsx.RequireAdmin(ctx); err != nil {
					return contract.Profile{}, err
				}
				return svc.Get(ctx, r.UserID)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AccountGet, func(ctx context.Context, r contract.AccountProfileRequest) (contract.AccountProfile, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.AccountProfile{}, err
				}
				return svc.AccountProfile(ctx, c.UserID, r.Platform)
			})
		},
		func() error { return natsx.Handle(ms, contract.AccountUpdate, updateAccount(svc, false)) },
		func() error { return natsx.Handle(ms, contract.AccountUpdate2FA, updateAccount(svc, true)) },
		func() error {
			return natsx.Handle(ms, contract.AccountVerifyOTP, func(ctx context.Context, r contract.AccountVerifyOTPRequest) (contract.AccountVerified, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.AccountVerified{}, err
				}
				return svc.VerifyOTP(ctx, c.UserID, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.ProfileExport, func(ctx context.Context, _ contract.ExportRequest) (contract.ProfileExportPart, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.ProfileExportPart{}, err
				}
				return svc.Export(ctx, c.UserID)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AccountWalletPost, func(ctx context.Context, r contract.WalletPosted) (contract.WalletPostReply, error) {
				if _, err := natsx.RequireAdmin(ctx); err != nil {
					return contract.WalletPostReply{}, err
				}
				return svc.Wallet.PostWallet(ctx, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.AccountOrderPost, func(ctx context.Context, r contract.OrderPosted) (contract.OrderPostReply, error) {
				if _, err := natsx.RequireAdmin(ctx); err != nil {
					return contract.OrderPostReply{}, err
				}
				return svc.Wallet.PostOrder(ctx, r)
			})
		},
	} {
		if err := add(); err != nil {
			return err
		}
	}
	return nil
}

func updateAccount(svc *app.Service, withTwoFA bool) natsx.Handler[contract.AccountUpdateRequest, contract.AccountUpdateReply] {
	return func(ctx context.Context, r contract.AccountUpdateRequest) (contract.AccountUpdateReply, error) {
		c, err := natsx.RequireUser(ctx)
		if err != nil {
			return contract.AccountUpdateReply{}, err
		}
		return svc.UpdateAccount(ctx, c.UserID, r, withTwoFA)
	}
}
