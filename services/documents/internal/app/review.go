package app

import (
	"context"
	"slices"
	"strings"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
)

// reviewQueueScan bounds how many queue marks one admin listing reads.
const reviewQueueScan = 1000

// Pending lists documents awaiting review, oldest first. The queue marks
// are a hint kept without isolation; each is checked against the owner's
// chain, and a stale one is dropped.
func (s *Service) Pending(ctx context.Context, req contract.AdminListDocumentsRequest) (contract.AdminDocumentList, error) {
	if req.Status != "" && req.Status != contract.DocumentPending {
		return contract.AdminDocumentList{}, contract.FieldError("status", "Only status=pending can be listed.")
	}
	limit, offset, err := Page(req.ListDocumentsRequest)
	if err != nil {
		return contract.AdminDocumentList{}, err
	}
	marks, err := s.Queue.Awaiting(ctx, reviewQueueScan)
	if err != nil {
		return contract.AdminDocumentList{}, err
	}
	owners := map[int64]Docs{}
	var pending []Doc
	var ownerOf []int64
	for _, m := range marks {
		d, ok := owners[m.UserID]
		if !ok {
			if d, err = s.current(ctx, m.UserID); err != nil {
				return contract.AdminDocumentList{}, err
			}
			owners[m.UserID] = d
		}
		i := slices.IndexFunc(d.Items, func(it Doc) bool { return it.ID == m.ID })
		if i < 0 || d.Items[i].Status != contract.DocumentPending {
			s.settled(ctx, m.ID)
			continue
		}
		pending, ownerOf = append(pending, d.Items[i]), append(ownerOf, m.UserID)
	}
	out := contract.AdminDocumentList{Documents: []contract.AdminDocument{}, Total: len(pending)}
	end := min(len(pending), offset+limit)
	for i := offset; i < end; i++ {
		doc, err := s.document(ctx, pending[i])
		if err != nil {
			return contract.AdminDocumentList{}, err
		}
		out.Documents = append(out.Documents, contract.AdminDocument{Document: doc, UserID: ownerOf[i]})
	}
	return out, nil
}

// Review approves or rejects a pending document for the admin reviewer,
// and asks the notifier to tell the account holder by email and push.
func (s *Service) Review(ctx context.Context, reviewer string, req contract.ReviewDocumentRequest) (contract.AdminDocument, error) {
	reason := ""
	var seen *contract.ReviewedIdentity
	switch req.Decision {
	case contract.DocumentApproved:
		if req.SeenAs != nil {
			v := *req.SeenAs
			for _, f := range []string{v.FirstName, v.LastName, v.ImageKey} {
				if len(f) > contract.MaxReviewedField {
					return contract.AdminDocument{}, contract.FieldError("seen_as", "Each field of what the reviewer saw is at most 255 bytes.")
				}
			}
			seen = &v
		}
	case contract.DocumentRejected:
		reason = trimReason(req.Reason)
		if reason == "" {
			return contract.AdminDocument{}, contract.FieldError("reason", "A reason of at most 500 characters is required.")
		}
	default:
		return contract.AdminDocument{}, contract.FieldError("decision", "The decision must be approved or rejected.")
	}
	owner, err := s.Queue.Owner(ctx, req.ID)
	if err != nil {
		return contract.AdminDocument{}, err
	}
	acc, err := s.Accounts(ctx, owner)
	if err != nil {
		return contract.AdminDocument{}, err
	}
	var reviewed Doc
	_, err = s.change(ctx, owner, func(d *Docs, version int64) ([]contract.Event, error) {
		i := slices.IndexFunc(d.Items, func(it Doc) bool { return it.ID == req.ID })
		if i < 0 {
			return nil, contract.DocumentNotFound()
		}
		if d.Items[i].Status != contract.DocumentPending {
			// The second of two reviewers learns who decided first.
			return nil, contract.Errorf(contract.Conflict, "This document was already %s by %s.", d.Items[i].Status, cmpOr(d.Items[i].ReviewedBy, "someone"))
		}
		d.Items = slices.Clone(d.Items)
		it := &d.Items[i]
		it.Status, it.Reason, it.ReviewedBy, it.ReviewedAs, it.UpdatedAt = req.Decision, reason, reviewer, seen, s.now()
		reviewed = *it
		notices, err := s.notices(ctx, acc, *it)
		if err != nil {
			return nil, err
		}
		return s.announce(ctx, contract.EventDocumentReviewed, *it, *d, version, nil, notices...)
	})
	if err != nil {
		return contract.AdminDocument{}, err
	}
	s.settled(ctx, req.ID)
	doc, err := s.document(ctx, reviewed)
	if err != nil {
		return contract.AdminDocument{}, err
	}
	return contract.AdminDocument{Document: doc, UserID: owner, ReviewedBy: reviewer}, nil
}

func trimReason(r string) string {
	r = strings.TrimSpace(r)
	if len([]rune(r)) > 500 {
		return ""
	}
	return r
}

// notices are the notifier's requests to tell the account holder of a
// review: an email and, when the account has a device, a push.
func (s *Service) notices(ctx context.Context, acc contract.Account, d Doc) ([]contract.Event, error) {
	t, _ := contract.DocumentTypeByID(d.TypeID)
	data := map[string]string{"Document": t.Name + " (" + t.Side + ")", "Status": d.Status, "Reason": d.Reason}
	var out []contract.Event
	for _, n := range []contract.NotificationWanted{
		{Channel: contract.ChannelEmail, To: acc.Email},
		{Channel: contract.ChannelPush, To: acc.DeviceToken, DeviceToken: acc.DeviceToken},
	} {
		if n.To == "" {
			continue
		}
		n.Template, n.Locale, n.Data, n.UserID = "document_reviewed", acc.Locale, data, acc.ID
		ev, err := events.New(ctx, contract.EventNotificationWanted, n)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
