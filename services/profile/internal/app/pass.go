package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// PassKeys sign passes under the current key; the previous ones still
// check the passes they signed (rotation, as DOSS_JWT_PREVIOUS_KEYS).
type PassKeys struct {
	KeyID    string
	Key      ed25519.PrivateKey
	Previous []contract.VerificationKey
}

// IssuedPass is the server's own record of a pass: whose it is, which the
// token does not say (its subject is random), and what it claimed.
type IssuedPass struct {
	ID        string    // jti
	UserID    int64     //
	IssuedAt  time.Time // full precision, unlike the token's iat
	ExpiresAt time.Time
	Fields    []string
	Claims    contract.PassClaims
}

// PassStore keeps issued passes, revocations and verifications.
type PassStore interface {
	// Record stores a new pass; jti is unique.
	Record(ctx context.Context, p IssuedPass) error
	// Issued returns the pass with jti, or ErrNotFound.
	Issued(ctx context.Context, jti string) (IssuedPass, error)
	// Revoke kills every pass of the user issued at or before at.
	Revoke(ctx context.Context, userID int64, at time.Time) error
	// RevokedAfter says whether a revocation of the user's passes was made
	// at or after t.
	RevokedAfter(ctx context.Context, userID int64, t time.Time) (bool, error)
	// Seen records a valid verification of one of the user's passes.
	Seen(ctx context.Context, userID int64, v contract.PassVerification) error
	// Verifications are the user's newest verifications, newest first (a
	// store may keep only the newest few hundred).
	Verifications(ctx context.Context, userID int64, limit int) ([]contract.PassVerification, error)
	// Erase removes what the user's passes and verifications say of them
	// (an account's purge); revocations stay.
	Erase(ctx context.Context, userID int64) error
}

// Passes is the pass part of the service.
type Passes struct {
	Keys  PassKeys
	Store PassStore
	// Photos signs the short links to a pass's photo.
	Photos LinkSigner
	// Limits counts verifications per client address, and passes issued
	// per user.
	Limits       Limits
	VerifyPerMin int
	// IssuesPerHour bounds the passes one user makes: each is a record
	// kept until the account's purge, which reads them all.
	IssuesPerHour int
}

type passJWT struct {
	contract.PassClaims
	jwt.RegisteredClaims
}

// ValidatePassRequest returns the chosen fields (in canonical order) and
// lifetime, or the 422 naming what is wrong.
func ValidatePassRequest(req contract.PassIssueRequest) ([]string, time.Duration, error) {
	var v contract.Validation
	fields := contract.PassDefaultFields
	if req.Fields != nil {
		fields = nil
		for _, f := range contract.PassFields {
			if slices.Contains(req.Fields, f) {
				fields = append(fields, f)
			}
		}
		for _, f := range req.Fields {
			if !slices.Contains(contract.PassFields, f) {
				v.Add("fields", "The fields may only be first_name, last_name, photo, identity_status and age_over_18.")
				break
			}
		}
		if len(req.Fields) == 0 {
			v.Add("fields", "Choose at least one field to show.")
		}
	}
	ttl := contract.PassDefaultTTL
	if req.TTL != nil {
		ttl = time.Duration(*req.TTL) * time.Second
		if ttl < 10*time.Second || ttl > contract.PassMaxTTL {
			v.Add("ttl", "The ttl must be between 10 and 600 seconds.")
		}
	}
	return fields, ttl, v.Err()
}

// photoDigest names a stored photo without revealing its key.
func photoDigest(key string) string {
	d := sha256.Sum256([]byte("doss-pass-photo:" + key))
	return base64.RawURLEncoding.EncodeToString(d[:16])
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// AgeOver18 derives the claim from a YYYY-MM-DD birthdate at now.
func AgeOver18(birthdate string, now time.Time) (bool, bool) {
	b, err := time.Parse(time.DateOnly, birthdate)
	if err != nil {
		return false, false
	}
	return !b.AddDate(18, 0, 0).After(now), true
}

// IssuePass signs a pass of the caller's profile holding only the chosen
// fields. Its identity status is the one stored, so only a verified
// profile can make a pass that says verified.
func (s *Service) IssuePass(ctx context.Context, userID int64, req contract.PassIssueRequest) (contract.PassIssueReply, error) {
	fields, ttl, err := ValidatePassRequest(req)
	if err != nil {
		return contract.PassIssueReply{}, err
	}
	if err := s.limitIssue(ctx, userID); err != nil {
		return contract.PassIssueReply{}, err
	}
	p, err := s.load(ctx, userID)
	if err != nil {
		return contract.PassIssueReply{}, err
	}
	now := s.now()
	var cl contract.PassClaims
	var v contract.Validation
	for _, f := range fields {
		switch f {
		case contract.PassFirstName:
			cl.FirstName = p.FirstName
		case contract.PassLastName:
			cl.LastName = p.LastName
		case contract.PassPhoto:
			if p.Image == nil || *p.Image == "" {
				if req.Fields != nil { // asked for; the default shows it only when there is one
					v.Add("fields", "You have no photo to show.")
				}
				continue
			}
			cl.Photo = photoDigest(*p.Image)
		case contract.PassIdentityStatus:
			cl.IdentityStatus = p.IdentityStatus // settled below, beside what the pass shows
		case contract.PassAgeOver18:
			over, ok := AgeOver18(p.Birthdate, now)
			if !ok {
				v.Add("fields", "Your birthdate is not set.")
				continue
			}
			cl.AgeOver18 = &over
		}
	}
	if err := v.Err(); err != nil {
		return contract.PassIssueReply{}, err
	}
	if cl.IdentityStatus != "" {
		cl.IdentityStatus, cl.VerifiedDocuments = statusShown(cl, p)
	}
	if cl.Photo == "" {
		fields = slices.DeleteFunc(slices.Clone(fields), func(f string) bool { return f == contract.PassPhoto })
	}
	jti := randomToken()
	exp := now.Add(ttl)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, passJWT{PassClaims: cl, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    contract.TokenIssuer,
		Subject:   randomToken(), // pairwise: two scans share nothing
		Audience:  jwt.ClaimStrings{contract.PassAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
		ID:        jti,
	}})
	tok.Header["kid"] = s.Passes.Keys.KeyID
	tok.Header["typ"] = contract.PassType
	signed, err := tok.SignedString(s.Passes.Keys.Key)
	if err != nil {
		return contract.PassIssueReply{}, err
	}
	if err := s.Passes.Store.Record(ctx, IssuedPass{ID: jti, UserID: userID, IssuedAt: now, ExpiresAt: exp, Fields: fields, Claims: cl}); err != nil {
		return contract.PassIssueReply{}, err
	}
	return contract.PassIssueReply{Token: signed, ExpiresAt: exp.Truncate(time.Second), Fields: fields}, nil
}

// PassKeySet is the JWKS of the pass keys, current first.
func (s *Service) PassKeySet() contract.PassKeysReply {
	k := s.Passes.Keys
	keys := []contract.JWK{jwk(k.KeyID, k.Key.Public().(ed25519.PublicKey))}
	for _, p := range k.Previous {
		keys = append(keys, jwk(p.KeyID, p.PublicKey))
	}
	return contract.PassKeysReply{Keys: keys}
}

func jwk(kid string, pub []byte) contract.JWK {
	return contract.JWK{KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), KeyID: kid, Use: "sig", Algorithm: "EdDSA"}
}

func (s *Service) passKey(kid string) (ed25519.PublicKey, bool) {
	k := s.Passes.Keys
	if kid == k.KeyID {
		return k.Key.Public().(ed25519.PublicKey), true
	}
	for _, p := range k.Previous {
		if p.KeyID == kid && len(p.PublicKey) == ed25519.PublicKeySize {
			return ed25519.PublicKey(p.PublicKey), true
		}
	}
	return nil, false
}

var errPassKey = errors.New("unknown pass key or type")

// maxPassToken bounds what is parsed; a real pass is well under it.
const maxPassToken = 4096

func invalidPass(reason string) contract.PassVerifyReply {
	return contract.PassVerifyReply{Valid: false, Reason: reason}
}

// checkPass is the verdict on a token and, when valid, its record.
func (s *Service) checkPass(ctx context.Context, raw string) (contract.PassVerifyReply, IssuedPass, error) {
	if raw == "" || len(raw) > maxPassToken {
		return invalidPass(contract.PassInvalid), IssuedPass{}, nil
	}
	var cl passJWT
	_, err := jwt.ParseWithClaims(raw, &cl, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if typ, _ := t.Header["typ"].(string); typ != contract.PassType {
			return nil, errPassKey
		}
		k, ok := s.passKey(kid)
		if !ok {
			return nil, errPassKey
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithIssuer(contract.TokenIssuer), jwt.WithAudience(contract.PassAudience), jwt.WithTimeFunc(s.now))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		// jwt/v5 checks the signature before the claims: this is ours.
		return invalidPass(contract.PassExpired), IssuedPass{}, nil
	case err != nil || cl.ID == "":
		return invalidPass(contract.PassInvalid), IssuedPass{}, nil
	}
	rec, err := s.Passes.Store.Issued(ctx, cl.ID)
	if errors.Is(err, ErrNotFound) {
		return invalidPass(contract.PassInvalid), IssuedPass{}, nil
	}
	if err != nil {
		return contract.PassVerifyReply{}, IssuedPass{}, err
	}
	if rec.Claims.IdentityStatus != cl.IdentityStatus || !slices.Equal(rec.Claims.VerifiedDocuments, cl.VerifiedDocuments) {
		return invalidPass(contract.PassInvalid), IssuedPass{}, nil // cannot happen without our key
	}
	revoked, err := s.Passes.Store.RevokedAfter(ctx, rec.UserID, rec.IssuedAt)
	if err != nil {
		return contract.PassVerifyReply{}, IssuedPass{}, err
	}
	if revoked {
		return invalidPass(contract.PassRevoked), IssuedPass{}, nil
	}
	// The profile as stored now: a document rejected or deleted a moment
	// ago must already count. A profile that is gone is an account that
	// is gone.
	p, err := s.Profiles.Get(ctx, rec.UserID)
	if errors.Is(err, ErrNotFound) {
		return invalidPass(contract.PassRevoked), IssuedPass{}, nil
	}
	if err != nil {
		return contract.PassVerifyReply{}, IssuedPass{}, err
	}
	if !stillTrue(cl.PassClaims, p) {
		return invalidPass(contract.PassRevoked), IssuedPass{}, nil
	}
	iat, exp := cl.IssuedAt.Time, cl.ExpiresAt.Time
	return contract.PassVerifyReply{Valid: true, Claims: &cl.PassClaims, IssuedAt: &iat, ExpiresAt: &exp}, rec, nil
}

// statusShown is the identity status a pass showing cl's names and photo
// may carry for p: verified, with the kinds verified, only when each name
// and the photo it shows are those the profile had when its documents
// were approved (Profile.VerifiedAs). A reviewer compared a document with
// those; a name or face set after the review is the user's word alone, so
// beside it the identity is unverified (a verified account renamed
// "Jane Victim", with her face, made a pass that said "verified ·
// passport"). A pass that shows neither names nor photo says verified.
func statusShown(cl contract.PassClaims, p Profile) (string, []string) {
	if p.IdentityStatus != contract.IdentityVerified {
		return p.IdentityStatus, nil
	}
	v := p.VerifiedAs
	switch {
	case v == nil && cl.FirstName == "" && cl.LastName == "" && cl.Photo == "":
		// Approved beside no name (the admin API without seen_as): the
		// pass vouches for the document only, and shows no one.
	case v == nil,
		cl.FirstName != "" && cl.FirstName != v.FirstName,
		cl.LastName != "" && cl.LastName != v.LastName,
		cl.Photo != "" && (v.Image == "" || photoDigest(v.Image) != cl.Photo):
		return contract.IdentityUnverified, nil
	}
	return contract.IdentityVerified, p.VerifiedDocuments
}

// stillTrue says whether what a pass shows is still the profile's: the
// same names (a rename makes the old pass a stranger's), the same photo (a
// pass whose face can no longer be shown would vouch for a name with no
// face), the same status beside them, and each document it names still
// verified.
func stillTrue(cl contract.PassClaims, p Profile) bool {
	if cl.Photo != "" && (p.Image == nil || photoDigest(*p.Image) != cl.Photo) {
		return false
	}
	if (cl.FirstName != "" && cl.FirstName != p.FirstName) || (cl.LastName != "" && cl.LastName != p.LastName) {
		return false
	}
	if cl.IdentityStatus == "" {
		return true
	}
	status, verified := statusShown(cl, p)
	if cl.IdentityStatus != status {
		return false
	}
	for _, d := range cl.VerifiedDocuments {
		if !slices.Contains(verified, d) {
			return false
		}
	}
	return true
}

// VerifyPass is anyone's check of a pass; each valid one is recorded for
// its owner (when and which fields, not who: the server cannot know).
func (s *Service) VerifyPass(ctx context.Context, req contract.PassVerifyRequest) (contract.PassVerifyReply, error) {
	if err := s.limitVerify(ctx); err != nil {
		return contract.PassVerifyReply{}, err
	}
	reply, rec, err := s.checkPass(ctx, req.Token)
	if err != nil || !reply.Valid {
		return reply, err
	}
	if err := s.Passes.Store.Seen(ctx, rec.UserID, contract.PassVerification{At: s.now(), Fields: rec.Fields}); err != nil {
		return contract.PassVerifyReply{}, err
	}
	return reply, nil
}

// PassPhoto is a short link to the photo of a valid pass that shows one,
// while the photo is still the one it was made with.
func (s *Service) PassPhoto(ctx context.Context, req contract.PassVerifyRequest) (contract.PassPhotoReply, error) {
	if err := s.limitVerify(ctx); err != nil {
		return contract.PassPhotoReply{}, err
	}
	reply, rec, err := s.checkPass(ctx, req.Token)
	if err != nil {
		return contract.PassPhotoReply{}, err
	}
	notFound := contract.Errorf(contract.NotFound, "No photo.")
	if !reply.Valid || reply.Claims.Photo == "" {
		return contract.PassPhotoReply{}, notFound
	}
	p, err := s.Profiles.Get(ctx, rec.UserID)
	if err != nil || p.Image == nil || photoDigest(*p.Image) != reply.Claims.Photo {
		return contract.PassPhotoReply{}, notFound
	}
	u, err := s.Passes.Photos.URL(ctx, *p.Image)
	if err != nil {
		return contract.PassPhotoReply{}, err
	}
	return contract.PassPhotoReply{URL: u}, nil
}

// RevokePasses kills every pass the user has issued so far.
func (s *Service) RevokePasses(ctx context.Context, userID int64) error {
	return s.Passes.Store.Revoke(ctx, userID, s.now())
}

// PassVerifications are the user's newest 50 verifications.
func (s *Service) PassVerifications(ctx context.Context, userID int64) (contract.PassVerificationsReply, error) {
	list, err := s.Passes.Store.Verifications(ctx, userID, 50)
	if list == nil {
		list = []contract.PassVerification{}
	}
	return contract.PassVerificationsReply{Verifications: list}, err
}

// limitIssue takes one of the user's passes of the hour: a loop on issue
// grew the user's records without bound, and the purge of the account
// reads every one.
func (s *Service) limitIssue(ctx context.Context, userID int64) error {
	return s.passLimit(ctx, "pass-issue:"+strconv.FormatInt(userID, 10), s.Passes.IssuesPerHour, time.Hour,
		"You have made too many passes this hour. Please try again later.")
}

// limitVerify caps verifications per client address.
func (s *Service) limitVerify(ctx context.Context) error {
	ip := natsx.CallerFrom(ctx).Network()
	if ip == "" {
		return nil
	}
	return s.passLimit(ctx, "pass-verify:"+ip, s.Passes.VerifyPerMin, time.Minute,
		"Too many verifications from your network. Please try again later.")
}

// passLimit takes one of key's limit hits in window, counted in the
// shared store so every replica enforces one budget; no limit (0) or no
// store counts nothing.
func (s *Service) passLimit(ctx context.Context, key string, limit int, window time.Duration, message string) error {
	if s.Passes.Limits == nil || limit <= 0 {
		return nil
	}
	wait, err := s.Passes.Limits.Hit(ctx, key, limit, window)
	if err != nil || wait <= 0 {
		return err
	}
	return contract.RateLimitedWait(wait, message)
}
