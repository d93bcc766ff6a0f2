package app

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/mongox"
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
	var entry idEntry
	err := s.IDs.FindOne(ctx, bson.M{"_id": id}).Decode(&entry)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return contract.AdminDocument{}, contract.DocumentNotFound()
	}
	if err != nil {
		return contract.AdminDocument{}, mongox.Wrap("document owner", err)
	}
	list, err := s.AdminUser(ctx, entry.UserID)
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
