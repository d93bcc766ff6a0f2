package gateway

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// accountExport is GET /api/v2/account/export: the caller's data, each
// service answering for its own part as the caller (the assertion names
// them; nothing in the request does). Auth's part comes first and refuses
// while the last export is younger than an hour; every other part must
// come too, or the answer is the error (a 503 when one is down), never a
// partial export; only a complete one is recorded against the hour.
func (g *Gateway) accountExport(c echo.Context) error {
	ctx := g.callCtx(c)
	none := contract.ExportRequest{}
	account, err := natsx.Call[contract.ExportRequest, contract.AuthExportPart](ctx, g.nc, contract.AuthExport, none)
	if err != nil {
		return err
	}
	var (
		wg                          sync.WaitGroup
		profile                     contract.ProfileExportPart
		documents                   contract.DocumentsExportPart
		notifier                    contract.NotifierExportPart
		profileErr, docsErr, notErr error
	)
	wg.Add(3)
	go func() {
		defer wg.Done()
		profile, profileErr = natsx.Call[contract.ExportRequest, contract.ProfileExportPart](ctx, g.nc, contract.ProfileExport, none)
	}()
	go func() {
		defer wg.Done()
		documents, docsErr = natsx.Call[contract.ExportRequest, contract.DocumentsExportPart](ctx, g.nc, contract.DocumentsExport, none)
	}()
	go func() {
		defer wg.Done()
		notifier, notErr = natsx.Call[contract.ExportRequest, contract.NotifierExportPart](ctx, g.nc, contract.NotifierExport, none)
	}()
	wg.Wait()
	for _, err := range []error{profileErr, docsErr, notErr} {
		if err != nil {
			return err
		}
	}
	if _, err := natsx.Call[contract.ExportRequest, struct{}](ctx, g.nc, contract.AuthExportDone, none); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, contract.AccountExport{
		ExportedAt:     time.Now().UTC(),
		Account:        account.Account,
		Profile:        profile.Profile,
		AccountProfile: profile.AccountProfile,
		Documents:      nonNil(documents.Documents),
		Sessions:       nonNil(account.Sessions),
		Wallet:         nonNil(profile.Wallet),
		Orders:         nonNil(profile.Orders),
		Notifications:  nonNil(notifier.Notifications),
		Audit:          nonNil(account.Audit),
	})
}

// nonNil makes an empty list an empty JSON array, not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
