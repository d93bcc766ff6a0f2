package gateway

import (
	"bytes"
	"embed"
	"encoding/csv"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

//go:embed console
var consoleFiles embed.FS

var consoleTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"can": func(role string, roles ...string) bool { return slices.Contains(roles, role) },
}).ParseFS(consoleFiles, "console/*.html"))

// page is what every console template gets.
type consolePage struct {
	Title  string
	Staff  contract.StaffSession
	CSRF   string
	Error  string
	Notice string
	Form   map[string]string
	Data   any
	// imgOrigins are the origins of the images on the page (presigned
	// object-store links), which the CSP must allow.
	imgOrigins []string
}

func render(c echo.Context, code int, name string, p consolePage) error {
	if p.Staff.Name == "" {
		p.Staff = staffOf(c)
	}
	if p.CSRF == "" {
		p.CSRF = p.Staff.CSRF
	}
	var buf bytes.Buffer
	if err := consoleTemplates.ExecuteTemplate(&buf, name, p); err != nil {
		return err
	}
	c.Response().Header().Set("Content-Security-Policy", consoleCSP(p.imgOrigins))
	return c.HTMLBlob(code, buf.Bytes())
}

func consoleErrorPage(c echo.Context, err error) error {
	e := contract.AsError(err)
	code := status(e.Code)
	msg := e.Message
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code, msg = he.Code, http.StatusText(he.Code)
	}
	if code >= 500 && code != http.StatusServiceUnavailable {
		msg = "Something went wrong. Please try again."
		renderError(err, c) // logs it; the JSON body is not written twice
		return nil
	}
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	return render(c, code, "error", consolePage{Title: http.StatusText(code), Error: msg, Form: map[string]string{"status": strconv.Itoa(code)}})
}

func consoleStatic(c echo.Context) error {
	sub, _ := fs.Sub(consoleFiles, "console/static")
	name := c.Param("file")
	b, err := fs.ReadFile(sub, name)
	if err != nil || strings.Contains(name, "/") {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ct := "text/plain; charset=utf-8"
	switch {
	case strings.HasSuffix(name, ".css"):
		ct = "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		ct = "text/javascript; charset=utf-8"
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, ct, b)
}

func origin(link string) string {
	u, err := url.Parse(link)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func addOrigin(p *consolePage, link string) {
	if o := origin(link); o != "" && !slices.Contains(p.imgOrigins, o) {
		p.imgOrigins = append(p.imgOrigins, o)
	}
}

// pending is the review queue, oldest first (the first 100).
func (g *Gateway) pending(c echo.Context) (contract.AdminDocumentList, error) {
	limit := 100
	return natsx.Call[contract.AdminListDocumentsRequest, contract.AdminDocumentList](g.callCtx(c), g.nc, contract.DocumentsAdminList,
		contract.AdminListDocumentsRequest{Status: contract.DocumentPending, ListDocumentsRequest: contract.ListDocumentsRequest{Limit: &limit}})
}

type typeCount struct {
	Type  string
	Count int
}

func (g *Gateway) consoleQueue(c echo.Context) error {
	list, err := g.pending(c)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, d := range list.Documents {
		counts[d.Type]++
	}
	var byType []typeCount
	for t, n := range counts {
		byType = append(byType, typeCount{t, n})
	}
	slices.SortFunc(byType, func(a, b typeCount) int { return strings.Compare(a.Type, b.Type) })
	return render(c, http.StatusOK, "queue", consolePage{Title: "Review queue", Notice: c.QueryParam("notice"), Data: map[string]any{"Docs": list.Documents, "Total": list.Total, "ByType": byType}})
}

func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, contract.Errorf(contract.NotFound, "Not found.")
	}
	return id, nil
}

// rejectReasons are the reasons offered; a reviewer may type another.
var rejectReasons = []string{
	"The photo is blurred or too dark to read.",
	"The document has expired.",
	"The name does not match the profile.",
	"Part of the document is cut off or covered.",
	"This is not an accepted identity document.",
}

type reviewData struct {
	Doc     contract.AdminDocument
	Others  []contract.AdminDocument
	Profile contract.AdminProfile
	History []contract.AuditEntry
	Reasons []string
}

func (g *Gateway) consoleDocument(c echo.Context) error {
	return g.reviewPage(c, http.StatusOK, "", c.QueryParam("notice"))
}

func (g *Gateway) reviewPage(c echo.Context, code int, errMsg, notice string) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := g.callCtx(c)
	doc, err := natsx.Call[contract.DocumentRequest, contract.AdminDocument](ctx, g.nc, contract.DocumentsAdminGet, contract.DocumentRequest{ID: id})
	if err != nil {
		return err
	}
	d := reviewData{Doc: doc, Reasons: rejectReasons}
	if d.Profile, err = natsx.Call[contract.AdminUserIDRequest, contract.AdminProfile](ctx, g.nc, contract.ProfileAdminGet, contract.AdminUserIDRequest{UserID: doc.UserID}); err != nil {
		return err
	}
	all, err := natsx.Call[contract.AdminUserIDRequest, contract.AdminDocumentList](ctx, g.nc, contract.DocumentsAdminUser, contract.AdminUserIDRequest{UserID: doc.UserID})
	if err != nil {
		return err
	}
	p := consolePage{Title: "Review " + doc.Type, Error: errMsg, Notice: notice}
	for _, o := range all.Documents {
		addOrigin(&p, o.File)
		if o.ID != doc.ID {
			d.Others = append(d.Others, o)
		}
	}
	addOrigin(&p, doc.File)
	addOrigin(&p, deref(d.Profile.Image))
	hist, err := natsx.Call[contract.AuditListRequest, contract.AuditList](ctx, g.nc, contract.AuthAuditList, contract.AuditListRequest{Text: "/documents/" + strconv.FormatInt(id, 10) + "/", Limit: 50})
	if err != nil {
		return err
	}
	d.History = hist.Entries
	p.Data = d
	return render(c, code, "review", p)
}

// consoleDecide approves or rejects, then opens the next pending item. A
// document someone else decided first shows who did.
func (g *Gateway) consoleDecide(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	req := contract.ReviewDocumentRequest{ID: id, Decision: c.FormValue("decision")}
	switch req.Decision {
	case contract.DocumentRejected:
		req.Reason = strings.TrimSpace(c.FormValue("reason_other"))
		if req.Reason == "" {
			req.Reason = c.FormValue("reason")
		}
	case contract.DocumentApproved:
		// The approval vouches for the names and photo the page showed
		// (its hidden fields). If the user changed them since, the
		// reviewer compares again rather than approve unseen ones.
		seen := contract.ReviewedIdentity{FirstName: c.FormValue("seen_first_name"), LastName: c.FormValue("seen_last_name"), ImageKey: c.FormValue("seen_image_key")}
		if changed, err := g.profileChanged(c, id, seen); err != nil {
			return err
		} else if changed {
			return g.reviewPage(c, http.StatusConflict, "The profile's names or photo changed while this page was open: compare them with the document again.", "")
		}
		req.SeenAs = &seen
	}
	if _, err := natsx.Call[contract.ReviewDocumentRequest, contract.AdminDocument](g.callCtx(c), g.nc, contract.DocumentsReview, req); err != nil {
		e := contract.AsError(err)
		if e.Code == contract.Conflict || e.Code == contract.Invalid {
			return g.reviewPage(c, status(e.Code), e.Message, "")
		}
		return err
	}
	notice := url.QueryEscape("Document " + strconv.FormatInt(id, 10) + " " + req.Decision + ".")
	list, err := g.pending(c)
	if err == nil {
		for _, d := range list.Documents {
			if d.ID != id {
				return c.Redirect(http.StatusSeeOther, "/console/documents/"+strconv.FormatInt(d.ID, 10)+"?notice="+notice)
			}
		}
	}
	return c.Redirect(http.StatusSeeOther, "/console/queue?notice="+notice)
}

// profileChanged says whether the profile of document id's owner is no
// longer seen.
func (g *Gateway) profileChanged(c echo.Context, id int64, seen contract.ReviewedIdentity) (bool, error) {
	ctx := g.callCtx(c)
	doc, err := natsx.Call[contract.DocumentRequest, contract.AdminDocument](ctx, g.nc, contract.DocumentsAdminGet, contract.DocumentRequest{ID: id})
	if err != nil {
		return false, err
	}
	p, err := natsx.Call[contract.AdminUserIDRequest, contract.AdminProfile](ctx, g.nc, contract.ProfileAdminGet, contract.AdminUserIDRequest{UserID: doc.UserID})
	return err == nil && p.Identity() != seen, err
}

// consoleUserSearch finds one user by email, phone, uuid or id and opens
// their page.
func (g *Gateway) consoleUserSearch(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	if q == "" {
		return render(c, http.StatusOK, "search", consolePage{Title: "Find a user"})
	}
	u, err := natsx.Call[contract.AdminUserRequest, contract.AdminUser](g.callCtx(c), g.nc, contract.AuthAdminUser, contract.AdminUserRequest{Query: q})
	if err != nil {
		e := contract.AsError(err)
		if e.Code == contract.NotFound || e.Code == contract.Invalid {
			return render(c, status(e.Code), "search", consolePage{Title: "Find a user", Error: e.Message, Form: map[string]string{"q": q}})
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/console/users/"+strconv.FormatInt(u.Account.ID, 10))
}

type userData struct {
	User      contract.AdminUser
	Profile   contract.AdminProfile
	Documents []contract.AdminDocument
	Audit     []contract.AuditEntry
	// Deletion is the account's deletion, if it ever asked for one.
	Deletion *contract.AdminDeletion
}

func (g *Gateway) consoleUser(c echo.Context) error { return g.userPage(c, http.StatusOK, "") }

// userPage shows a user; errMsg (with code) is an action that was refused.
func (g *Gateway) userPage(c echo.Context, code int, errMsg string) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := g.callCtx(c)
	var d userData
	if d.User, err = natsx.Call[contract.AdminUserRequest, contract.AdminUser](ctx, g.nc, contract.AuthAdminUser, contract.AdminUserRequest{UserID: id}); err != nil {
		return err
	}
	if d.Profile, err = natsx.Call[contract.AdminUserIDRequest, contract.AdminProfile](ctx, g.nc, contract.ProfileAdminGet, contract.AdminUserIDRequest{UserID: id}); err != nil {
		return err
	}
	docs, err := natsx.Call[contract.AdminUserIDRequest, contract.AdminDocumentList](ctx, g.nc, contract.DocumentsAdminUser, contract.AdminUserIDRequest{UserID: id})
	if err != nil {
		return err
	}
	d.Documents = docs.Documents
	trail, err := natsx.Call[contract.AuditListRequest, contract.AuditList](ctx, g.nc, contract.AuthAuditList, contract.AuditListRequest{UserID: id, Limit: 100})
	if err != nil {
		return err
	}
	d.Audit = trail.Entries
	// The admin API's list command, narrowed to this user (a keyed read).
	dels, err := natsx.Call[contract.DeletionsListRequest, contract.DeletionsListReply](ctx, g.nc, contract.AuthDeletionsList, contract.DeletionsListRequest{UserID: id})
	if err != nil {
		return err
	}
	if len(dels.Deletions) > 0 {
		d.Deletion = &dels.Deletions[0]
	}
	p := consolePage{Title: "User " + strconv.FormatInt(id, 10), Notice: c.QueryParam("notice"), Error: errMsg, Data: d}
	addOrigin(&p, deref(d.Profile.Image))
	for _, doc := range d.Documents {
		addOrigin(&p, doc.File)
	}
	return render(c, code, "user", p)
}

func (g *Gateway) consoleRevoke(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	r, err := natsx.Call[contract.AdminSessionsRevokeRequest, contract.AdminSessionsRevokeReply](g.callCtx(c), g.nc, contract.AuthAdminSessionsRevoke,
		contract.AdminSessionsRevokeRequest{UserID: id, SessionID: c.FormValue("session_id")})
	if err != nil {
		return err
	}
	for _, sid := range r.Revoked {
		g.verifier.markRevoked(sid)
	}
	return c.Redirect(http.StatusSeeOther, "/console/users/"+strconv.FormatInt(id, 10)+"?notice="+url.QueryEscape(strconv.Itoa(len(r.Revoked))+" session(s) ended."))
}

func (g *Gateway) consoleUnlock(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if _, err := natsx.Call[contract.AdminUserIDRequest, contract.PINLockout](g.callCtx(c), g.nc, contract.AuthAdminUnlock, contract.AdminUserIDRequest{UserID: id}); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/console/users/"+strconv.FormatInt(id, 10)+"?notice="+url.QueryEscape("PIN lockout cleared."))
}

// consoleCancelDeletion cancels a deletion in its grace period. One whose
// purge has started (409), or none to cancel (404), is shown on the user
// page with the state as it now is.
func (g *Gateway) consoleCancelDeletion(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if _, err := natsx.Call[contract.DeletionCancelRequest, contract.AdminDeletion](g.callCtx(c), g.nc, contract.AuthDeletionCancel, contract.DeletionCancelRequest{UserID: id}); err != nil {
		if e := contract.AsError(err); e.Code == contract.Conflict || e.Code == contract.NotFound {
			return g.userPage(c, status(e.Code), e.Message)
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/console/users/"+strconv.FormatInt(id, 10)+"?notice="+url.QueryEscape("Deletion cancelled; the owner can log in again (every device signs in afresh)."))
}

func (g *Gateway) staffPage(c echo.Context, code int, p consolePage) error {
	list, err := natsx.Call[struct{}, contract.StaffList](g.callCtx(c), g.nc, contract.AuthStaffList, struct{}{})
	if err != nil {
		return err
	}
	p.Title = "Staff"
	p.Data = map[string]any{"Staff": list.Staff, "Roles": contract.Roles, "Created": p.Data}
	return render(c, code, "staff", p)
}

func (g *Gateway) consoleStaff(c echo.Context) error {
	return g.staffPage(c, http.StatusOK, consolePage{})
}

func (g *Gateway) consoleStaffCreate(c echo.Context) error {
	req := contract.StaffCreateRequest{Name: strings.TrimSpace(c.FormValue("name")), Role: c.FormValue("role")}
	cr, err := natsx.Call[contract.StaffCreateRequest, contract.StaffCredentials](g.callCtx(c), g.nc, contract.AuthStaffCreate, req)
	if err != nil {
		if e := contract.AsError(err); e.Code == contract.Invalid {
			return g.staffPage(c, http.StatusUnprocessableEntity, consolePage{Error: e.Message, Form: map[string]string{"name": req.Name}})
		}
		return err
	}
	return g.staffPage(c, http.StatusOK, consolePage{Notice: "Created " + cr.Name + ". Its password and TOTP secret are shown this once.", Data: &cr})
}

func (g *Gateway) consoleStaffUpdate(c echo.Context) error {
	req := contract.StaffUpdateRequest{Name: c.Param("name")}
	switch c.FormValue("action") {
	case "role":
		req.Role = c.FormValue("role")
		if req.Role == "" {
			req.Role = "-" // refused below as not a role
		}
	case "disable", "enable":
		d := c.FormValue("action") == "disable"
		req.Disabled = &d
	case "reset_totp":
		req.ResetTOTP = true
	default:
		return contract.FieldError("action", "The action must be role, disable, enable or reset_totp.")
	}
	cr, err := natsx.Call[contract.StaffUpdateRequest, contract.StaffCredentials](g.callCtx(c), g.nc, contract.AuthStaffUpdate, req)
	if err != nil {
		if e := contract.AsError(err); e.Code == contract.Invalid {
			return g.staffPage(c, http.StatusUnprocessableEntity, consolePage{Error: e.Message})
		}
		return err
	}
	p := consolePage{Notice: "Updated " + cr.Name + "."}
	if cr.OTPAuthURI != "" {
		p.Notice, p.Data = "New TOTP secret for "+cr.Name+", shown this once; their sessions have ended.", &cr
	}
	return g.staffPage(c, http.StatusOK, p)
}

func (g *Gateway) auditQuery(c echo.Context) (contract.AuditListRequest, map[string]string, error) {
	form := map[string]string{}
	for _, k := range []string{"admin", "user_id", "text", "since", "until"} {
		form[k] = strings.TrimSpace(c.QueryParam(k))
	}
	req := contract.AuditListRequest{Admin: form["admin"], Text: form["text"], Limit: 500}
	var v contract.Validation
	if s := form["user_id"]; s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			v.Add("user_id", "A user id is a number.")
		}
		req.UserID = id
	}
	for _, k := range []string{"since", "until"} {
		if s := form[k]; s != "" {
			t, err := time.Parse("2006-01-02", s)
			if err != nil {
				v.Add(k, "A date is YYYY-MM-DD.")
			}
			if k == "until" {
				t = t.Add(24 * time.Hour)
				req.Until = t
			} else {
				req.Since = t
			}
		}
	}
	return req, form, v.Err()
}

func (g *Gateway) consoleAudit(c echo.Context) error {
	req, form, err := g.auditQuery(c)
	if err != nil {
		return render(c, http.StatusUnprocessableEntity, "audit", consolePage{Title: "Audit", Error: contract.AsError(err).Message, Form: form, Data: []contract.AuditEntry{}})
	}
	list, err := natsx.Call[contract.AuditListRequest, contract.AuditList](g.callCtx(c), g.nc, contract.AuthAuditList, req)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range form {
		if v != "" {
			q.Set(k, v)
		}
	}
	form["csv"] = "/console/audit.csv?" + q.Encode()
	return render(c, http.StatusOK, "audit", consolePage{Title: "Audit", Form: form, Data: list.Entries})
}

func (g *Gateway) consoleAuditCSV(c echo.Context) error {
	req, _, err := g.auditQuery(c)
	if err != nil {
		return err
	}
	req.Limit = 5000
	list, err := natsx.Call[contract.AuditListRequest, contract.AuditList](g.callCtx(c), g.nc, contract.AuthAuditList, req)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"at", "staff", "action", "method", "path", "user_id", "client_ip", "user_agent", "id"})
	for _, e := range list.Entries {
		uid := ""
		if e.UserID != 0 {
			uid = strconv.FormatInt(e.UserID, 10)
		}
		_ = w.Write([]string{e.At.UTC().Format(time.RFC3339), csvSafe(e.Admin), csvSafe(e.Action), e.Method, csvSafe(e.Path), uid, csvSafe(e.ClientIP), csvSafe(e.UserAgent), e.ID})
	}
	w.Flush()
	c.Response().Header().Set("Content-Disposition", `attachment; filename="doss-audit.csv"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (a user
// agent or path is whatever a client sent).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
