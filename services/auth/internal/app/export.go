package app

import (
	"context"
	"strconv"
	"time"

	"github.com/dossapp/backend/pkg/contract"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// exportKey is the ledger chain of an account's finished exports.
func exportKey(userID int64) string { return "export:" + strconv.FormatInt(userID, 10) }

// Export is auth's part of the caller's data export: the account without
// its secrets (no PIN hash, no pending PIN, no trusted-device hashes, no
// push token) and its active sessions. It refuses while the account's last
// finished export is younger than contract.ExportInterval; it records
// nothing itself, so a part that fails afterwards does not spend the hour
// (ExportDone does).
func (s *Service) Export(ctx context.Context, p contract.Principal, _ contract.ExportRequest) (contract.AuthExportPart, error) {
	tail, err := s.Ledger.Tail(ctx, exportKey(p.UserID))
	if err != nil {
		return contract.AuthExportPart{}, err
	}
	if err := s.exportDue(tail, s.now()); err != nil {
		return contract.AuthExportPart{}, err
	}
	acc, err := s.account(ctx, p.UUID)
	if err != nil || acc.UserID != p.UserID {
		return contract.AuthExportPart{}, contract.Errorf(contract.Unauthenticated, "Unauthenticated.")
	}
	sessions, err := s.SessionsList(ctx, p, contract.SessionsListRequest{})
	if err != nil {
		return contract.AuthExportPart{}, err
	}
	return contract.AuthExportPart{
		Account: contract.ExportAccount{
			ID: acc.UserID, UUID: acc.UUID, Email: acc.Email, Phone: acc.Phone,
			EmailVerifiedAt: acc.EmailVerifiedAt, PhoneVerifiedAt: acc.PhoneVerifiedAt,
			TwoFA: acc.TwoFA, HasPassword: acc.Password, Locale: acc.Locale, CreatedAt: acc.CreatedAt,
			EmailChange: acc.EmailChange.contract(), PhoneChange: acc.PhoneChange.contract(),
			TrustedDevices: len(acc.TrustedDevices),
		},
		Sessions: sessions.Sessions,
	}, nil
}

// ExportDone records the caller's finished export. Two exports racing
// past Export both reach here; the ledger's unique insert lets one record
// and the other is refused as too soon.
func (s *Service) ExportDone(ctx context.Context, p contract.Principal, _ contract.ExportRequest) (struct{}, error) {
	_, err := s.Ledger.Append(ctx, exportKey(p.UserID), func(tail domain.Tail, now time.Time) (string, error) {
		if err := s.exportDue(tail, now); err != nil {
			return "", err
		}
		return "export", nil
	})
	return struct{}{}, err
}

// exportDue refuses while the newest export in tail is younger than the
// interval, saying when the next one may run.
func (s *Service) exportDue(tail domain.Tail, now time.Time) error {
	last, ok, err := tail.At(0)
	if err != nil || !ok {
		return err
	}
	if wait := last.At.Add(contract.ExportInterval).Sub(now); wait > 0 {
		return tooMany(contract.ReasonRateLimited, "export", wait, contract.ExportTooOften)
	}
	return nil
}
