package app

import (
	"context"
	"errors"
	"slices"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
)

// ApplyDocuments sets the six document fields and identity_status from a
// snapshot of the user's current documents. The documents service calls it
// right after each change, so the next profile read shows it; its events
// bring the same snapshot again, so a call lost to a crash is made good.
// An older or repeated snapshot changes nothing.
func (s *Service) ApplyDocuments(ctx context.Context, snap contract.DocumentsSnapshot) error {
	if snap.UserID == 0 || snap.Version <= 0 {
		return contract.Errorf(contract.Invalid, "The documents snapshot is incomplete.")
	}
	if _, err := s.load(ctx, snap.UserID); err != nil {
		return err
	}
	_, err := s.recordWith(ctx, snap.UserID, func(p *Profile) ([]contract.Event, error) {
		if !applySnapshot(p, snap) {
			return nil, errUnchanged
		}
		return nil, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil // the same snapshot's event reached the consumer first
	}
	return err
}

// applySnapshot sets p's document fields from snap; false when p has
// that snapshot or a newer one already.
func applySnapshot(p *Profile, snap contract.DocumentsSnapshot) bool {
	if p.DocumentsVersion >= snap.Version {
		return false
	}
	p.DocumentsVersion = snap.Version
	fields := documentFields(p)
	for _, f := range fields {
		*f = nil
	}
	for _, d := range snap.Documents {
		if f, ok := fields[d.TypeID]; ok && d.Key != "" {
			k := d.Key
			*f = &k
		}
	}
	before := p.VerifiedDocuments
	p.IdentityStatus = IdentityStatus(snap.Documents)
	p.VerifiedDocuments = VerifiedDocuments(snap.Documents)
	switch {
	case len(p.VerifiedDocuments) == 0:
		p.VerifiedAs = nil
	case slices.ContainsFunc(p.VerifiedDocuments, func(d string) bool { return !slices.Contains(before, d) }):
		// A kind newly approved: vouched for beside what its reviewers
		// saw, never beside what the profile holds now (renamed while
		// the review page was open, it would vouch for a name no one
		// compared with the document).
		p.VerifiedAs = reviewedAs(snap.Documents, p.VerifiedDocuments, before)
	}
	return true
}

// reviewedAs is the identity every approved side of the kinds verified
// in docs and not in before was reviewed beside; nil when any side was
// approved without one (through the admin API, or before reviews recorded
// it) or two sides were approved beside different ones.
func reviewedAs(docs []contract.DocumentRef, verified, before []string) *VerifiedIdentity {
	var seen *contract.ReviewedIdentity
	for _, kind := range verified {
		if slices.Contains(before, kind) {
			continue
		}
		for _, d := range docs {
			if t, ok := contract.DocumentTypeByID(d.TypeID); !ok || t.Document != kind || d.Status != contract.DocumentApproved {
				continue
			}
			if d.ReviewedAs == nil || (seen != nil && *seen != *d.ReviewedAs) {
				return nil
			}
			seen = d.ReviewedAs
		}
	}
	if seen == nil {
		return nil
	}
	return &VerifiedIdentity{FirstName: seen.FirstName, LastName: seen.LastName, Image: seen.ImageKey}
}

// documentFields maps a typeId to the profile field its image fills.
func documentFields(p *Profile) map[int]**string {
	return map[int]**string{
		1: &p.IDProofFront, 2: &p.IDProofBack,
		3: &p.PassportImgFront, 4: &p.PassportImgBack,
		5: &p.DrivingLicenseFront, 6: &p.DrivingLicenseBack,
	}
}

// OnDocumentChanged follows DocumentAdded, DocumentDeleted and
// DocumentReviewed.
func (s *Service) OnDocumentChanged(ctx context.Context, ev contract.Event) error {
	var d contract.DocumentChanged
	if err := ev.Decode(&d); err != nil {
		return errors.Join(events.ErrPermanent, err)
	}
	err := s.ApplyDocuments(ctx, d.Snapshot)
	if contract.ErrorCode(err) == contract.Invalid || contract.ErrorCode(err) == contract.NotFound {
		return errors.Join(events.ErrPermanent, err)
	}
	return err
}

// IdentityStatus is identity_status for a user's current documents (one
// per type): verified once every side of one document is approved;
// pending while something awaits review; rejected when the latest
// submission of every type present was rejected; else unverified.
func IdentityStatus(docs []contract.DocumentRef) string {
	if len(VerifiedDocuments(docs)) > 0 {
		return contract.IdentityVerified
	}
	status := map[int]string{}
	for _, d := range docs {
		status[d.TypeID] = d.Status
	}
	rejected := 0
	for _, st := range status {
		switch st {
		case contract.DocumentPending:
			return contract.IdentityPending
		case contract.DocumentRejected:
			rejected++
		}
	}
	if len(status) > 0 && rejected == len(status) {
		return contract.IdentityRejected
	}
	return contract.IdentityUnverified
}

// VerifiedDocuments are the document kinds, in contract.DocumentTypes
// order, whose every side is approved among a user's current documents.
func VerifiedDocuments(docs []contract.DocumentRef) []string {
	status := map[int]string{}
	for _, d := range docs {
		status[d.TypeID] = d.Status
	}
	var kinds []string
	whole := map[string]bool{}
	for _, t := range contract.DocumentTypes {
		if _, seen := whole[t.Document]; !seen {
			kinds = append(kinds, t.Document)
			whole[t.Document] = true
		}
		whole[t.Document] = whole[t.Document] && status[t.ID] == contract.DocumentApproved
	}
	var out []string
	for _, k := range kinds {
		if whole[k] {
			out = append(out, k)
		}
	}
	return out
}
