package app

import (
	"context"

	"github.com/dossapp/backend/pkg/contract"
)

// AdminUser is every current document of one user, for staff: with who
// reviewed each.
func (s *Service) AdminUser(ctx context.Context, userID int64) (contract.AdminDocumentList, error) {
	d, err := s.current(ctx, userID)
	if err != nil {
		return contract.AdminDocumentList{}, err
	}
	out := contract.AdminDocumentList{Documents: []contract.AdminDocument{}, Total: len(d.Items)}
	for _, it := range d.Items {
		doc, err := s.document(ctx, it)
		if err != nil {
			return contract.AdminDocumentList{}, err
		}
		out.Documents = append(out.Documents, contract.AdminDocument{Document: doc, UserID: userID, ReviewedBy: it.ReviewedBy})
	}
	return out, nil
}

// AdminGet is one document by id, for staff: the review page, which shows
// who decided it when someone did.
func (s *Service) AdminGet(ctx context.Context, id int64) (contract.AdminDocument, error) {
	owner, err := s.Queue.Owner(ctx, id)
	if err != nil {
		return contract.AdminDocument{}, err
	}
	list, err := s.AdminUser(ctx, owner)
	if err != nil {
		return contract.AdminDocument{}, err
	}
	for _, d := range list.Documents {
		if d.ID == id {
			return d, nil
		}
	}
	return contract.AdminDocument{}, contract.DocumentNotFound()
}
