package app

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
)

// Export is the documents' part of the user's data export: every current
// document with a link signed now (Limits.LinkTTL), and who reviewed it.
func (s *Service) Export(ctx context.Context, userID int64) (contract.DocumentsExportPart, error) {
	d, err := s.current(ctx, userID)
	if err != nil {
		return contract.DocumentsExportPart{}, err
	}
	out := contract.DocumentsExportPart{Documents: make([]contract.ExportDocument, 0, len(d.Items))}
	for _, it := range d.Items {
		u, err := s.Files.GetURL(ctx, it.Key, s.Limits.LinkTTL) // an export's links live their whole life
		if err != nil {
			return contract.DocumentsExportPart{}, err
		}
		out.Documents = append(out.Documents, contract.ExportDocument{Document: view(it, u), ReviewedBy: it.ReviewedBy})
	}
	return out, nil
}
