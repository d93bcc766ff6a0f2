package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/seal"

	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Staff holds the console's staff accounts, their sessions and the audit
// trail. It is apart from Service: doss-admin builds it alone.
type Staff struct {
	Accounts  StaffAccounts
	Sessions  StaffSessions
	UsedCodes UsedCodes
	Audit     AuditTrail
	Ledger    Counters // sign-in failures per name and address
	Hasher    *Hasher
	// Box seals TOTP secrets at rest (a key derived from DOSS_OTP_SECRET).
	Box    *seal.Box
	Issuer string
	Now    func() time.Time
	Limits StaffLimits
}

// StaffLimits are the console's session and lockout rules.
type StaffLimits struct {
	SessionTTL  time.Duration // absolute
	IdleTTL     time.Duration
	Failures    int // wrong passwords or codes in a row that lock
	LockFor     time.Duration
	touchEvery  time.Duration
	passwordLen int
}

// DefaultStaffLimits: 8 h sessions, 30 min idle, 5 failures lock a name
// from one address for 15 min.
func DefaultStaffLimits() StaffLimits {
	return StaffLimits{SessionTTL: 8 * time.Hour, IdleTTL: 30 * time.Minute, Failures: 5, LockFor: 15 * time.Minute,
		touchEvery: time.Minute, passwordLen: 24}
}

// StaffBoxKey derives the key that seals TOTP secrets from the OTP secret,
// so no new secret is needed to deploy the console.
func StaffBoxKey(otpSecret []byte) []byte {
	m := hmac.New(sha256.New, otpSecret)
	m.Write([]byte("doss-staff-totp.v1"))
	return m.Sum(nil)
}

func member(a domain.StaffAccount) contract.StaffMember {
	return contract.StaffMember{Name: a.Name, Role: a.Role, Disabled: a.Disabled, CreatedAt: a.CreatedAt, CreatedBy: a.CreatedBy}
}

var staffName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

func (s *Staff) now() time.Time { return s.Now().UTC() }

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// passwordAlphabet leaves out look-alikes (0/O, 1/l/I).
const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func randomPassword(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = passwordAlphabet[int(b[i])%len(passwordAlphabet)] // 256 % 57: a bias of < 1 bit over 24 characters
	}
	return string(b)
}

func (s *Staff) credentials(a domain.StaffAccount, password string, secret []byte) contract.StaffCredentials {
	return contract.StaffCredentials{StaffMember: member(a), Password: password,
		TOTPSecret: totpEncoding.EncodeToString(secret), OTPAuthURI: OTPAuthURI(s.Issuer, a.Name, secret)}
}

func (s *Staff) seal(name string, secret []byte) []byte {
	return s.Box.Seal(secret, []byte("staff:"+name))
}

// Create makes a staff account with a generated password and TOTP secret,
// returned once and never again.
func (s *Staff) Create(ctx context.Context, by string, req contract.StaffCreateRequest) (contract.StaffCredentials, error) {
	if !staffName.MatchString(req.Name) {
		return contract.StaffCredentials{}, contract.FieldError("name", "A name is 2 to 32 lower-case letters, digits, dots, dashes or underscores.")
	}
	if !contract.ValidRole(req.Role) {
		return contract.StaffCredentials{}, contract.FieldError("role", "The role must be reviewer, support or admin.")
	}
	password, secret := randomPassword(s.Limits.passwordLen), make([]byte, 20)
	_, _ = rand.Read(secret)
	a := domain.StaffAccount{Name: req.Name, Role: req.Role, PasswordHash: s.Hasher.Hash(password), TOTPSealed: s.seal(req.Name, secret),
		CreatedAt: s.now(), CreatedBy: by}
	if err := s.Accounts.Create(ctx, a); err != nil {
		if errors.Is(err, contract.ErrExists) {
			return contract.StaffCredentials{}, contract.FieldError("name", "A staff member of this name exists.")
		}
		return contract.StaffCredentials{}, err
	}
	return s.credentials(a, password, secret), nil
}

// Reset gives name a new password and TOTP secret and ends its sessions
// (doss-admin, and the dev-admin of make run).
func (s *Staff) Reset(ctx context.Context, name string) (contract.StaffCredentials, error) {
	a, err := s.account(ctx, name)
	if err != nil {
		return contract.StaffCredentials{}, err
	}
	password, secret := randomPassword(s.Limits.passwordLen), make([]byte, 20)
	_, _ = rand.Read(secret)
	a.PasswordHash, a.TOTPSealed, a.Epoch, a.Disabled = s.Hasher.Hash(password), s.seal(name, secret), a.Epoch+1, false
	if err := s.Accounts.Replace(ctx, a); err != nil {
		return contract.StaffCredentials{}, err
	}
	return s.credentials(a, password, secret), nil
}

func (s *Staff) account(ctx context.Context, name string) (domain.StaffAccount, error) {
	a, err := s.Accounts.Get(ctx, name)
	if errors.Is(err, contract.ErrNotFound) {
		return a, contract.Errorf(contract.NotFound, "No staff member of this name.")
	}
	return a, err
}

// List is every staff account by name.
func (s *Staff) List(ctx context.Context) (contract.StaffList, error) {
	all, err := s.Accounts.List(ctx)
	if err != nil {
		return contract.StaffList{}, err
	}
	out := contract.StaffList{Staff: []contract.StaffMember{}}
	for _, a := range all {
		out.Staff = append(out.Staff, member(a))
	}
	return out, nil
}

// Update changes a role, disables or enables, or resets the TOTP secret
// (the new one returned once). An admin cannot disable or demote
// themselves, so the last admin cannot lock everyone out by a slip.
func (s *Staff) Update(ctx context.Context, by string, req contract.StaffUpdateRequest) (contract.StaffCredentials, error) {
	a, err := s.account(ctx, req.Name)
	if err != nil {
		return contract.StaffCredentials{}, err
	}
	if req.Role != "" && !contract.ValidRole(req.Role) {
		return contract.StaffCredentials{}, contract.FieldError("role", "The role must be reviewer, support or admin.")
	}
	if req.Name == by && ((req.Role != "" && req.Role != contract.RoleAdmin) || (req.Disabled != nil && *req.Disabled)) {
		return contract.StaffCredentials{}, contract.FieldError("name", "You cannot disable or demote yourself.")
	}
	var secret []byte
	if req.Role != "" {
		a.Role = req.Role
	}
	if req.Disabled != nil && *req.Disabled != a.Disabled {
		a.Disabled = *req.Disabled
		a.Epoch++
	}
	if req.ResetTOTP {
		secret = make([]byte, 20)
		_, _ = rand.Read(secret)
		a.TOTPSealed = s.seal(a.Name, secret)
		a.Epoch++
	}
	if err := s.Accounts.Replace(ctx, a); err != nil {
		return contract.StaffCredentials{}, err
	}
	out := contract.StaffCredentials{StaffMember: member(a)}
	if secret != nil {
		out = s.credentials(a, "", secret)
	}
	return out, nil
}

// IsAdmin tells whether name is an enabled staff member with the admin
// role: what auth itself checks before it lets anyone manage staff.
func (s *Staff) IsAdmin(ctx context.Context, name string) (bool, error) {
	a, err := s.account(ctx, name)
	var ce *contract.Error
	if errors.As(err, &ce) && ce.Code == contract.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !a.Disabled && a.Role == contract.RoleAdmin, nil
}

func staffFailKey(name, ip string) string { return "staff:" + name + "|" + ip }

const (
	staffFail = "fail"
	staffOK   = "ok"
)

// failures counts the failures in a row on tail inside the lock window and
// when the newest was.
func (s *Staff) failures(tail domain.Tail, now time.Time) (int, time.Time, error) {
	n := 0
	var newest time.Time
	for i := 0; i < s.Limits.Failures; i++ {
		e, ok, err := tail.At(i)
		if err != nil || !ok || e.Kind != staffFail || now.Sub(e.At) > s.Limits.LockFor {
			return n, newest, err
		}
		if i == 0 {
			newest = e.At
		}
		n++
	}
	return n, newest, nil
}

func (s *Staff) locked(name string, wait time.Duration) error {
	return tooMany(contract.ReasonRateLimited, "name", wait, "Too many failed sign-ins for "+name+" from your address. Please try again later.")
}

// Login checks the password and the TOTP code. Five failures for one name
// from one client address lock that pair (not the name everywhere: a
// stranger cannot lock a member out of their own address) and are written
// to the audit trail. Each attempt claims its failure slot before it
// compares, so concurrent guesses get at most five checks.
func (s *Staff) Login(ctx context.Context, req contract.StaffLoginRequest, client contract.Client) (contract.StaffSession, error) {
	name := strings.TrimSpace(strings.ToLower(req.Name))
	if name == "" || req.Password == "" || req.Code == "" {
		return contract.StaffSession{}, contract.FieldError("name", "Name, password and code are required.")
	}
	if !staffName.MatchString(name) {
		name = "invalid" // keeps ledger keys bounded; such a name matches no account
	}
	key := staffFailKey(name, client.Network())
	_, err := s.Ledger.Append(ctx, key, func(tail domain.Tail, now time.Time) (string, error) {
		n, newest, err := s.failures(tail, now)
		if err != nil {
			return "", err
		}
		if n >= s.Limits.Failures {
			return "", s.locked(name, newest.Add(s.Limits.LockFor).Sub(now))
		}
		return staffFail, nil
	})
	if err != nil {
		return contract.StaffSession{}, err
	}
	a, err := s.account(ctx, name)
	found := err == nil
	var ce *contract.Error
	if err != nil && !(errors.As(err, &ce) && ce.Code == contract.NotFound) {
		return contract.StaffSession{}, err
	}
	ok := false
	var counter uint64
	if found {
		ok = s.Hasher.Verify(a.PasswordHash, req.Password)
		secret, oerr := s.Box.Open(a.TOTPSealed, []byte("staff:"+a.Name))
		var codeOK bool
		if oerr == nil {
			counter, codeOK = StaffTOTP.Match(secret, strings.TrimSpace(req.Code), s.now())
		}
		ok = ok && codeOK && !a.Disabled
	} else {
		s.Hasher.Burn(req.Password) // the same work for a name that does not exist
	}
	if ok {
		// A code is good once: a second sign-in with it (a shoulder-surfed
		// code) is a failure.
		first, err := s.UsedCodes.Use(ctx, a.Name+"#"+uintString(counter), s.now())
		if err != nil {
			return contract.StaffSession{}, err
		}
		ok = first
	}
	if !ok {
		s.record(ctx, name, "sign-in failed", client)
		if n, _, _ := s.failuresNow(ctx, key); n >= s.Limits.Failures {
			s.record(ctx, name, "locked out", client)
		}
		return contract.StaffSession{}, contract.FieldError("password", "The name, password or code is wrong.")
	}
	_, _ = s.Ledger.Append(context.WithoutCancel(ctx), key, func(domain.Tail, time.Time) (string, error) { return staffOK, nil })
	token := randomToken(32)
	ss := domain.StaffSession{ID: tokenDigest(token), Name: a.Name, Epoch: a.Epoch, CSRF: randomToken(32), CreatedAt: s.now(), LastSeen: s.now(), IP: client.IP}
	if err := s.Sessions.Insert(ctx, ss); err != nil {
		return contract.StaffSession{}, err
	}
	s.record(ctx, a.Name, "sign-in", client)
	return contract.StaffSession{Token: token, Name: a.Name, Role: a.Role, CSRF: ss.CSRF, ExpiresAt: ss.CreatedAt.Add(s.Limits.SessionTTL)}, nil
}

func (s *Staff) failuresNow(ctx context.Context, key string) (int, time.Time, error) {
	tail, err := s.Ledger.Tail(ctx, key)
	if err != nil {
		return 0, time.Time{}, err
	}
	return s.failures(tail, s.now())
}

func uintString(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func tokenDigest(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

func sessionGone() error {
	return contract.Errorf(contract.Unauthenticated, "Your console session has ended. Please sign in.")
}

// Session is the live session of a cookie's token: within 8 h of sign-in
// and 30 min of the last request, its member enabled and unchanged since;
// the role is the member's role now.
func (s *Staff) Session(ctx context.Context, req contract.StaffSessionRequest) (contract.StaffSession, error) {
	if req.Token == "" || len(req.Token) > 128 {
		return contract.StaffSession{}, sessionGone()
	}
	ss, err := s.Sessions.Get(ctx, tokenDigest(req.Token))
	if errors.Is(err, contract.ErrNotFound) {
		return contract.StaffSession{}, sessionGone()
	}
	if err != nil {
		return contract.StaffSession{}, err
	}
	now := s.now()
	if now.Sub(ss.CreatedAt) > s.Limits.SessionTTL || now.Sub(ss.LastSeen) > s.Limits.IdleTTL {
		return contract.StaffSession{}, sessionGone()
	}
	a, err := s.account(ctx, ss.Name)
	if err != nil || a.Disabled || a.Epoch != ss.Epoch {
		return contract.StaffSession{}, sessionGone()
	}
	if now.Sub(ss.LastSeen) >= s.Limits.touchEvery {
		if err := s.Sessions.Touch(ctx, ss.ID, now); err != nil {
			return contract.StaffSession{}, err
		}
	}
	return contract.StaffSession{Name: a.Name, Role: a.Role, CSRF: ss.CSRF, ExpiresAt: ss.CreatedAt.Add(s.Limits.SessionTTL)}, nil
}

// Logout ends the session of token.
func (s *Staff) Logout(ctx context.Context, req contract.StaffSessionRequest) error {
	return s.Sessions.Delete(ctx, tokenDigest(req.Token))
}

// record writes a sign-in event of auth's own to the audit trail; a
// failure to record is logged by the caller's metrics, never fatal to the
// answer (the attempt is in the ledger either way).
func (s *Staff) record(ctx context.Context, name, action string, client contract.Client) {
	_ = s.Audit.Add(context.WithoutCancel(ctx), contract.AuditEntry{ID: uuid.NewString(), AdminAudited: contract.AdminAudited{
		Admin: name, Method: "POST", Path: "/console/login", Route: "/console/login", ClientIP: client.IP,
		UserAgent: client.UserAgent, At: s.now(), Action: action,
	}})
}

// Audited stores one admin.audited event from the stream, once per event
// id (a redelivery changes nothing).
func (s *Staff) Audited(ctx context.Context, id string, a contract.AdminAudited) error {
	return s.Audit.Add(ctx, contract.AuditEntry{ID: id, AdminAudited: a})
}

// AuditAbout is every staff action about userID, oldest first, for the
// user's export.
func (s *Staff) AuditAbout(ctx context.Context, userID int64) ([]contract.ExportAuditRow, error) {
	entries, err := s.Audit.About(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]contract.ExportAuditRow, 0, len(entries))
	for _, e := range entries {
		out = append(out, contract.ExportAuditRow{Admin: e.Admin, Method: e.Method, Path: e.Path, At: e.At})
	}
	return out, nil
}

// AuditList is the trail, newest first, filtered. The text is matched
// here, over up to four times the entries asked for.
func (s *Staff) AuditList(ctx context.Context, req contract.AuditListRequest) (contract.AuditList, error) {
	limit := req.Limit
	if limit <= 0 || limit > 5000 {
		limit = 500
	}
	entries, err := s.Audit.Find(ctx, domain.AuditFilter{Admin: req.Admin, UserID: req.UserID, Since: req.Since, Until: req.Until}, limit*4)
	if err != nil {
		return contract.AuditList{}, err
	}
	out := contract.AuditList{Entries: []contract.AuditEntry{}}
	text := strings.ToLower(req.Text)
	for _, e := range entries {
		if text != "" && !strings.Contains(strings.ToLower(e.Path+" "+e.Action+" "+e.ClientIP), text) {
			continue
		}
		out.Entries = append(out.Entries, e)
		if len(out.Entries) == limit {
			break
		}
	}
	return out, nil
}
