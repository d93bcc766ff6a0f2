package app

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/mongox"
)

// AuditEntry is one admin call about a user, kept from the AdminAudited
// event (the stream keeps events 7 days; a user's export needs them all).
type AuditEntry struct {
	ID     string    `bson:"_id"` // the event id: a redelivery inserts nothing new
	UserID int64     `bson:"user_id"`
	Admin  string    `bson:"admin"`
	Method string    `bson:"method"`
	Path   string    `bson:"path"`
	At     time.Time `bson:"at"`
}

// HandleAudit keeps the admin calls whose path names a user.
func (s *Service) HandleAudit(ctx context.Context, ev contract.Event) error {
	var a contract.AdminAudited
	if err := ev.Decode(&a); err != nil {
		return fmt.Errorf("%w: decode: %v", events.ErrPermanent, err)
	}
	if a.UserID <= 0 {
		return nil
	}
	_, err := s.Audit.InsertOne(ctx, AuditEntry{ID: ev.ID, UserID: a.UserID, Admin: a.Admin, Method: a.Method, Path: a.Path, At: a.At.UTC()})
	if err != nil && !mongox.IsDuplicate(err) {
		return mongox.Wrap("audit insert", err)
	}
	return nil
}

// Export is profile's part of the user's data export: the profile and the
// account profile as the app shows them (links signed now), every wallet
// and order posting, and the admin calls about the user, oldest first.
// The postings and the audit are read by user_id, a scan on FerretDB: an
// export runs at most once an hour per account.
func (s *Service) Export(ctx context.Context, userID int64) (contract.ProfileExportPart, error) {
	ctx = mongox.WithFresh(ctx)
	var out contract.ProfileExportPart
	var err error
	if out.Profile, err = s.Get(ctx, userID); err != nil {
		return out, err
	}
	if out.AccountProfile, err = s.AccountProfile(ctx, userID, ""); err != nil {
		return out, err
	}
	var ps []Posting
	if err := findAll(ctx, s.Postings, userID, &ps); err != nil {
		return out, mongox.Wrap("postings read", err)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].At.Before(ps[j].At) })
	out.Wallet, out.Orders = []contract.ExportWallet{}, []contract.ExportOrder{}
	for _, p := range ps {
		switch p.Kind {
		case postingWallet:
			out.Wallet = append(out.Wallet, contract.ExportWallet{
				ID: p.ID, Balance: p.Balance, Entry: p.Entry, Amount: contract.Amount(p.Amount), ExpiresAt: p.ExpiresAt,
				Reason: p.Reason, At: p.At, Received: p.Received, Shortfall: contract.Amount(p.Shortfall),
			})
		case postingOrder:
			out.Orders = append(out.Orders, contract.ExportOrder{
				ID: p.ID, OrderID: p.OrderID, Status: p.Status, Amount: contract.Amount(p.Amount), At: p.At, Received: p.Received,
			})
		}
	}
	var audit []AuditEntry
	if err := findAll(ctx, s.Audit, userID, &audit); err != nil {
		return out, mongox.Wrap("audit read", err)
	}
	sort.Slice(audit, func(i, j int) bool { return audit[i].At.Before(audit[j].At) })
	out.Audit = make([]contract.ExportAuditRow, 0, len(audit))
	for _, a := range audit {
		out.Audit = append(out.Audit, contract.ExportAuditRow{Admin: a.Admin, Method: a.Method, Path: a.Path, At: a.At})
	}
	return out, nil
}

// findAll decodes every document of c about userID into out.
func findAll(ctx context.Context, c *mongo.Collection, userID int64, out any) error {
	cur, err := c.Find(ctx, bson.M{"user_id": userID})
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}
