package contract

import "time"

// DocumentType is one kind of identity document image the app uploads;
// each fills one of the profile's six image fields.
type DocumentType struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	Side         string `json:"side"`
	ProfileField string `json:"profile_field"`
	// Document groups the sides of one physical document: it is verified
	// when every side of it is approved.
	Document string `json:"-"`
}

// Document kinds and sides.
const (
	DocNationalID     = "national_id"
	DocPassport       = "passport"
	DocDrivingLicence = "driving_license"
	SideFront         = "front"
	SideBack          = "back"
)

// DocumentTypes is every type, by typeId (issue 4).
var DocumentTypes = []DocumentType{
	{ID: 1, Name: "National ID", Side: SideFront, ProfileField: "id_proof_front", Document: DocNationalID},
	{ID: 2, Name: "National ID", Side: SideBack, ProfileField: "id_proof_back", Document: DocNationalID},
	{ID: 3, Name: "Passport", Side: SideFront, ProfileField: "passport_img_front", Document: DocPassport},
	{ID: 4, Name: "Passport", Side: SideBack, ProfileField: "passport_img_back", Document: DocPassport},
	{ID: 5, Name: "Driving licence", Side: SideFront, ProfileField: "driving_license_front", Document: DocDrivingLicence},
	{ID: 6, Name: "Driving licence", Side: SideBack, ProfileField: "driving_license_back", Document: DocDrivingLicence},
}

// DocumentTypeByID returns the type with id.
func DocumentTypeByID(id int) (DocumentType, bool) {
	for _, t := range DocumentTypes {
		if t.ID == id {
			return t, true
		}
	}
	return DocumentType{}, false
}

// Document review statuses.
const (
	DocumentPending  = "pending"
	DocumentApproved = "approved"
	DocumentRejected = "rejected"
)

// Identity statuses of a profile besides IdentityUnverified.
const (
	IdentityPending  = "pending"
	IdentityVerified = "verified"
	IdentityRejected = "rejected"
)

// Document is the app's Document object; never rename its JSON names.
// File is a short-lived link to the stored image.
type Document struct {
	ID              int64     `json:"id"`
	TypeID          int       `json:"typeId"`
	Type            string    `json:"type"`
	Side            string    `json:"side"`
	Status          string    `json:"status"`
	RejectionReason *string   `json:"rejection_reason"`
	File            string    `json:"file"`
	ContentType     string    `json:"content_type"`
	Size            int64     `json:"size"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// AddDocumentRequest adds a document of TypeID from either an upload the
// gateway streamed into the documents_uploads object store (Upload) or an
// object the phone PUT through a presigned link (File, the key it got).
type AddDocumentRequest struct {
	File   string `json:"file,omitempty"`
	Upload string `json:"upload,omitempty"`
	TypeID int    `json:"typeId"`
}

// UploadURLRequest asks for a presigned PUT link for the caller, for a
// file of Size bytes: the link takes exactly that many (the length is
// signed), so it can store nothing larger than an upload may be.
type UploadURLRequest struct {
	Size int64 `json:"size"`
}

// UploadURLReply is a presigned PUT link and the key to send as "file".
type UploadURLReply struct {
	UploadURL string    `json:"upload_url"`
	File      string    `json:"file"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ListDocumentsRequest pages the caller's documents, newest first.
// A missing Limit or Offset means the default (20, 0).
type ListDocumentsRequest struct {
	Limit  *int `json:"limit,omitempty"`
	Offset *int `json:"offset,omitempty"`
}

// DocumentList is one page and the total (X-Total-Count).
type DocumentList struct {
	Documents []Document `json:"documents"`
	Total     int        `json:"total"`
}

// DocumentRequest names one of the caller's documents.
type DocumentRequest struct {
	ID int64 `json:"id"`
}

// ReviewDocumentRequest approves or rejects a pending document (admin).
type ReviewDocumentRequest struct {
	ID       int64  `json:"id"`
	Decision string `json:"decision"` // DocumentApproved or DocumentRejected
	Reason   string `json:"reason,omitempty"`
	// SeenAs is the profile the reviewer compared the document with, as
	// the review page showed it; an approval without it vouches for the
	// document, not for any name or photo.
	SeenAs *ReviewedIdentity `json:"seen_as,omitempty"`
}

// ReviewedIdentity is who a profile said it was when a reviewer compared
// a document with it: its names and its photo's object key.
type ReviewedIdentity struct {
	FirstName string `json:"first_name" bson:"first_name"`
	LastName  string `json:"last_name" bson:"last_name"`
	ImageKey  string `json:"image_key,omitempty" bson:"image_key,omitempty"`
}

// MaxReviewedField bounds each field of a ReviewedIdentity.
const MaxReviewedField = 255

// AdminListDocumentsRequest lists documents awaiting review (admin).
type AdminListDocumentsRequest struct {
	Status string `json:"status"`
	ListDocumentsRequest
}

// AdminDocumentList is one page of documents awaiting review, oldest first.
type AdminDocumentList struct {
	Documents []AdminDocument `json:"documents"`
	Total     int             `json:"total"`
}

// AdminDocument is a Document with its owner, for reviewers.
type AdminDocument struct {
	Document
	UserID     int64  `json:"user_id"`
	ReviewedBy string `json:"reviewed_by,omitempty"`
}

// DocumentNotFound is the one answer for a document that is missing, is
// someone else's or whose id is malformed: they must be indistinguishable.
func DocumentNotFound() *Error { return Errorf(NotFound, "Document not found.") }

// DocumentRef is what the profile needs of one current document.
type DocumentRef struct {
	ID     int64  `json:"id"`
	TypeID int    `json:"type_id"`
	Status string `json:"status"`
	Key    string `json:"key"` // object key in the private bucket
	// ReviewedAs is the profile its approver compared it with, if any.
	ReviewedAs *ReviewedIdentity `json:"reviewed_as,omitempty"`
}

// DocumentsSnapshot is a user's current documents after a change; Version
// grows with every change, so a reader applies only a newer one and the
// order it learns them in does not matter.
type DocumentsSnapshot struct {
	UserID    int64         `json:"user_id"`
	Version   int64         `json:"version"`
	Documents []DocumentRef `json:"documents"`
}

// DocumentChanged is the data of DocumentAdded, DocumentDeleted and
// DocumentReviewed.
type DocumentChanged struct {
	DocumentID int64             `json:"document_id"`
	TypeID     int               `json:"type_id"`
	Status     string            `json:"status"`
	Reason     string            `json:"reason,omitempty"`
	Snapshot   DocumentsSnapshot `json:"snapshot"`
}

// ObjectOrphaned asks the service that owns Key to delete it: the state
// change that stopped referring to it and this request are one insert, so
// the object goes even if the process dies right after.
type ObjectOrphaned struct {
	Key string `json:"key"`
}
