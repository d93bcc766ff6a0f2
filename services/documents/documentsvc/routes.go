package documentsvc

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
	"github.com/dossapp/backend/pkg/service"
	"github.com/dossapp/backend/services/documents/internal/app"
)

// routes lists every documents endpoint and who may call it: the user
// endpoints act on the authenticated caller; the review endpoints need the
// admin the gateway's admin API vouched for.
func routes(svc *app.Service) []service.Endpoint {
	return []service.Endpoint{
		service.On(service.User, contract.DocumentsTypes, func(ctx context.Context, _ natsx.Caller, _ struct{}) ([]contract.DocumentType, error) {
			return svc.Types(ctx)
		}),
		service.On(service.User, contract.DocumentsUploadURL, func(ctx context.Context, c natsx.Caller, req contract.UploadURLRequest) (contract.UploadURLReply, error) {
			return svc.UploadURL(ctx, c.UserID, req)
		}),
		service.On(service.User, contract.DocumentsAdd, func(ctx context.Context, c natsx.Caller, r contract.AddDocumentRequest) (contract.Document, error) {
			return svc.Add(ctx, c.UserID, r)
		}),
		service.On(service.User, contract.DocumentsList, func(ctx context.Context, c natsx.Caller, r contract.ListDocumentsRequest) (contract.DocumentList, error) {
			return svc.List(ctx, c.UserID, r)
		}),
		service.On(service.User, contract.DocumentsGet, func(ctx context.Context, c natsx.Caller, r contract.DocumentRequest) (contract.Document, error) {
			return svc.Get(ctx, c.UserID, r.ID)
		}),
		service.On(service.User, contract.DocumentsDelete, func(ctx context.Context, c natsx.Caller, r contract.DocumentRequest) (struct{}, error) {
			return struct{}{}, svc.Delete(ctx, c.UserID, r.ID)
		}),
		service.On(service.User, contract.DocumentsExport, func(ctx context.Context, c natsx.Caller, _ contract.ExportRequest) (contract.DocumentsExportPart, error) {
			return svc.Export(ctx, c.UserID)
		}),
		service.On(service.Admin, contract.DocumentsAdminList, func(ctx context.Context, _ natsx.Caller, r contract.AdminListDocumentsRequest) (contract.AdminDocumentList, error) {
			return svc.Pending(ctx, r)
		}),
		service.On(service.Admin, contract.DocumentsAdminUser, func(ctx context.Context, _ natsx.Caller, r contract.AdminUserIDRequest) (contract.AdminDocumentList, error) {
			return svc.AdminUser(ctx, r.UserID)
		}),
		service.On(service.Admin, contract.DocumentsAdminGet, func(ctx context.Context, _ natsx.Caller, r contract.DocumentRequest) (contract.AdminDocument, error) {
			return svc.AdminGet(ctx, r.ID)
		}),
		service.On(service.Admin, contract.DocumentsReview, func(ctx context.Context, c natsx.Caller, r contract.ReviewDocumentRequest) (contract.AdminDocument, error) {
			return svc.Review(ctx, c.Admin, r)
		}),
	}
}
