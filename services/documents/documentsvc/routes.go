package documentsvc

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// routes lists every documents endpoint in one place. The user endpoints
// act on the authenticated caller; the review endpoints need the admin the
// gateway's admin API vouched for.
func routes(ms *natsx.Service, svc *app.Service) error {
	for _, add := range []func() error{
		func() error {
			return natsx.Handle(ms, contract.DocumentsTypes, func(ctx context.Context, _ struct{}) ([]contract.DocumentType, error) {
				if _, err := natsx.RequireUser(ctx); err != nil {
					return nil, err
				}
				return svc.Types(ctx)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsUploadURL, func(ctx context.Context, _ contract.UploadURLRequest) (contract.UploadURLReply, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.UploadURLReply{}, err
				}
				return svc.UploadURL(ctx, c.UserID)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsAdd, func(ctx context.Context, r contract.AddDocumentRequest) (contract.Document, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.Document{}, err
				}
				return svc.Add(ctx, c.UserID, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsList, func(ctx context.Context, r contract.ListDocumentsRequest) (contract.DocumentList, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.DocumentList{}, err
				}
				return svc.List(ctx, c.UserID, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsGet, func(ctx context.Context, r contract.DocumentRequest) (contract.Document, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.Document{}, err
				}
				return svc.Get(ctx, c.UserID, r.ID)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsDelete, func(ctx context.Context, r contract.DocumentRequest) (struct{}, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return struct{}{}, err
				}
				return struct{}{}, svc.Delete(ctx, c.UserID, r.ID)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsExport, func(ctx context.Context, _ contract.ExportRequest) (contract.DocumentsExportPart, error) {
				c, err := natsx.RequireUser(ctx)
				if err != nil {
					return contract.DocumentsExportPart{}, err
				}
				return svc.Export(ctx, c.UserID)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsAdminList, func(ctx context.Context, r contract.AdminListDocumentsRequest) (contract.AdminDocumentList, error) {
				if _, err := natsx.RequireAdmin(ctx); err != nil {
					return contract.AdminDocumentList{}, err
				}
				return svc.Pending(ctx, r)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsAdminUser, func(ctx context.Context, r contract.AdminUserIDRequest) (contract.AdminDocumentList, error) {
				if _, err := natsx.RequireAdmin(ctx); err != nil {
					return contract.AdminDocumentList{}, err
				}
				return svc.AdminUser(ctx, r.UserID)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsAdminGet, func(ctx context.Context, r contract.DocumentRequest) (contract.AdminDocument, error) {
				if _, err := natsx.RequireAdmin(ctx); err != nil {
					return contract.AdminDocument{}, err
				}
				return svc.AdminGet(ctx, r.ID)
			})
		},
		func() error {
			return natsx.Handle(ms, contract.DocumentsReview, func(ctx context.Context, r contract.ReviewDocumentRequest) (contract.AdminDocument, error) {
				c, err := natsx.RequireAdmin(ctx)
				if err != nil {
					return contract.AdminDocument{}, err
				}
				return svc.Review(ctx, c.Admin, r)
			})
		},
	} {
		if err := add(); err != nil {
			return err
		}
	}
	return nil
}
