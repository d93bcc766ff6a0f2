package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
)

// routes is every HTTP route the gateway serves, in the order of
// openapi.yaml's tags; the end-to-end suite holds the two to each other
// (TestOpenAPICoversEveryRoute). Each route forwards to one NATS subject:
// forward and forwardQuery when the answer is the reply, in a shape, and a
// named handler beside its kind of answer when there is more to do (an
// upload, a cached read, a page). No route says what it changes: a
// service's reply does (profileCache.heard).
func (g *Gateway) routes(e *echo.Echo) {
	api := e.Group("/api")
	v2 := api.Group("/v2")
	authed := api.Group("", g.verifier.authenticate) // a bearer token of a live session

	// Registration (seed 001).
	v2.POST("/email_send_otp", forward[contract.EmailSendOTPRequest, contract.EmailSendOTPReply](g, contract.AuthEmailSendOTP, func(r contract.EmailSendOTPReply) any {
		return g.otpSent("A verification code was sent to your email.", echo.Map{"email": r.Email, "uuid": r.UUID}, r.VerificationCode)
	}))
	v2.POST("/email_verify_otp", forward[contract.EmailVerifyOTPRequest, contract.EmailVerifyOTPReply](g, contract.AuthEmailVerifyOTP, func(r contract.EmailVerifyOTPReply) any {
		return echo.Map{"message": "Email verified successfully.", "email_verify_at": r.EmailVerifyAt}
	}))
	v2.POST("/phone_send_otp", forward[contract.PhoneSendOTPRequest, contract.PhoneSendOTPReply](g, contract.AuthPhoneSendOTP, func(r contract.PhoneSendOTPReply) any {
		return g.otpSent("A verification code was sent to your phone.", echo.Map{"phone": r.Phone}, r.VerificationCode)
	}))
	v2.POST("/phone_verify_otp", forward[contract.PhoneVerifyOTPRequest, contract.PhoneVerifyOTPReply](g, contract.AuthPhoneVerifyOTP, func(r contract.PhoneVerifyOTPReply) any {
		return echo.Map{"message": "Phone verified successfully.", "phone_verify_at": r.PhoneVerifyAt}
	}))
	v2.POST("/set_pin", forward[contract.SetPINRequest, struct{}](g, contract.AuthSetPIN, func(struct{}) any {
		return echo.Map{"message": "PIN set. Please confirm it."}
	}))
	v2.POST("/confirm_pin", forward[contract.ConfirmPINRequest, contract.Session](g, contract.AuthConfirmPIN, func(s contract.Session) any {
		return echo.Map{"success": s}
	}))

	// Login, its second factor, a forgotten PIN, logout.
	v2.POST("/new-login", forward[contract.LoginRequest, contract.LoginReply](g, contract.AuthLogin, func(r contract.LoginReply) any {
		if r.Session == nil { // the account has 2FA: the code went to its phone
			return withStatus{http.StatusAccepted, echo.Map{"otp_required": true, "challenge": r.Challenge, "message": "Enter the code we sent to your phone."}}
		}
		return echo.Map{"response": r.Session}
	}))
	v2.POST("/login/verify-otp", forward[contract.LoginVerifyOTPRequest, contract.Session](g, contract.AuthLoginVerifyOTP, func(s contract.Session) any {
		return echo.Map{"response": s} // what a login without 2FA answers
	}))
	v2.POST("/forgot_pin", forward[contract.ForgotPINRequest, struct{}](g, contract.AuthForgotPIN, func(struct{}) any {
		return echo.Map{"message": contract.ForgotPINMessage}
	}))
	v2.POST("/reset_pin", forward[contract.ResetPINRequest, contract.Session](g, contract.AuthResetPIN, func(s contract.Session) any {
		return echo.Map{"response": s}
	}))
	authed.POST("/v2/logout", g.logout)

	// The profile (seed 000).
	authed.GET("/v2/profile", g.getProfile)
	authed.POST("/v2/update_name", g.updateName())
	authed.POST("/v2/update_email", g.updateEmail())
	authed.POST("/v2/update_phone", g.updatePhone())
	authed.POST("/v2/verify_contact", g.verifyContact())
	authed.POST("/v2/update_image", g.updateImage)

	// Documents (seed 003).
	authed.GET("/v2/document_types", forwardQuery[struct{}, []contract.DocumentType](g, contract.DocumentsTypes, func(echo.Context) (struct{}, error) { return struct{}{}, nil }, http.StatusOK))
	authed.POST("/v2/my/documents/upload_url", forwardQuery[contract.UploadURLRequest, contract.UploadURLReply](g, contract.DocumentsUploadURL, func(c echo.Context) (contract.UploadURLRequest, error) {
		var req contract.UploadURLRequest
		err := bindJSON(c, &req)
		return req, err
	}, http.StatusOK))
	authed.POST("/v2/my/documents", g.addDocument)
	authed.GET("/v2/my/documents", g.listDocuments)
	authed.GET("/v2/my/documents/:documentId", forwardQuery[contract.DocumentRequest, contract.Document](g, contract.DocumentsGet, documentID("documentId"), http.StatusOK))
	authed.DELETE("/v2/my/documents/:documentId", forwardQuery[contract.DocumentRequest, struct{}](g, contract.DocumentsDelete, documentID("documentId"), http.StatusNoContent))

	// Sessions.
	authed.GET("/v2/sessions", g.listSessions)
	authed.DELETE("/v2/sessions/:id", g.revokeSession)

	// The account (seed 002, /api/user, profile answers; the password is
	// auth's), its deletion and its export.
	authed.GET("/user/profile", g.accountProfile)
	authed.POST("/user/profile", g.accountUpdate(contract.AccountUpdate))
	authed.POST("/user/profile/2fa", g.accountUpdate(contract.AccountUpdate2FA))
	authed.POST("/user/profile/verify-otp", forward[contract.AccountVerifyOTPRequest, contract.AccountVerified](g, contract.AccountVerifyOTP,
		func(r contract.AccountVerified) any { return r }))
	authed.POST("/user/change-password", g.changePassword)
	authed.POST("/v2/account/delete", g.deleteAccount) // the bearer's account, never one named in the request
	authed.GET("/v2/account/export", g.accountExport)

	// The identity pass: the owner's, with a bearer, and anyone's, without.
	authed.POST("/v2/identity/pass", g.issuePass)
	authed.POST("/v2/identity/pass/revoke", g.revokePasses)
	authed.GET("/v2/identity/verifications", g.passVerifications)
	v2.POST("/identity/verify", forward[contract.PassVerifyRequest, contract.PassVerifyReply](g, contract.ProfilePassVerify, func(r contract.PassVerifyReply) any { return r }))
	e.GET("/.well-known/jwks.json", g.jwks)
	e.GET("/v/:token", g.passPage)
	e.GET("/v/:token/photo", g.passPhoto)

	// The admin API for automation, with per-key roles (DOSS_ADMIN_TOKENS
	// name:role:token); every call is audited before it runs (adminAuth).
	if len(g.adminTokens) > 0 {
		admin := e.Group("/admin/v1", g.adminAuth)
		admin.GET("/whoami", adminWhoami)
		reviewer := admin.Group("", adminAllow(contract.RoleReviewer, contract.RoleAdmin))
		reviewer.GET("/documents", g.pendingDocuments)
		reviewer.POST("/documents/:id/approve", forwardQuery[contract.ReviewDocumentRequest, contract.AdminDocument](g, contract.DocumentsReview, reviewRequest(contract.DocumentApproved), http.StatusOK))
		reviewer.POST("/documents/:id/reject", forwardQuery[contract.ReviewDocumentRequest, contract.AdminDocument](g, contract.DocumentsReview, reviewRequest(contract.DocumentRejected), http.StatusOK))
		support := admin.Group("", adminAllow(contract.RoleSupport, contract.RoleAdmin))
		support.POST("/users/:id/wallet", adminPost[contract.WalletPosted, contract.WalletPostReply](g, contract.AccountWalletPost, func(r *contract.WalletPosted, id int64) { r.UserID = id }))
		support.POST("/users/:id/orders", adminPost[contract.OrderPosted, contract.OrderPostReply](g, contract.AccountOrderPost, func(r *contract.OrderPosted, id int64) { r.UserID = id }))
		support.GET("/deletions", g.listDeletions)
		support.POST("/users/:id/deletion/cancel", g.cancelDeletion)
	}

	// The console: staff sessions in a cookie; each page's roles are the
	// matrix the tests hold it to (ConsoleRoles).
	console := e.Group("/console", consoleHeaders)
	console.GET("/static/:file", consoleStatic)
	console.GET("/login", g.consoleLoginPage)
	console.POST("/login", g.consoleLogin)
	staff := console.Group("", g.consoleSession)
	for _, r := range consoleRoutes {
		h := r.handler(g)
		if r.audit != "" {
			h = g.consoleAudited(r.audit, h)
		}
		staff.Add(r.method, r.path, h, allow(r.roles...))
	}

	// Ops.
	e.GET("/healthz", g.healthz)
	e.GET("/readyz", g.readyz)
	e.GET("/openapi.yaml", serveOpenAPI)
	e.GET("/docs", serveDocs)
	e.GET("/docs/:asset", serveDocsAsset)

	// Dev mode only: the messages the notifier would have sent.
	if g.dev {
		e.GET("/dev/outbox", g.devOutbox)
	}
	e.RouteNotFound("/*", func(c echo.Context) error { return echo.NewHTTPError(http.StatusNotFound) })
}

// consoleRoutes are the console's pages behind a staff session, under
// /console, with the roles that may open each and the audit action
// recorded before it runs.
var consoleRoutes = []consoleRoute{
	{http.MethodGet, "/", everyone, "", func(g *Gateway) echo.HandlerFunc { return g.consoleHome }},
	{http.MethodGet, "/whoami", everyone, "", func(g *Gateway) echo.HandlerFunc { return consoleWhoami }},
	{http.MethodPost, "/logout", everyone, "", func(g *Gateway) echo.HandlerFunc { return g.consoleLogout }},
	{http.MethodGet, "/queue", reviewers, "", func(g *Gateway) echo.HandlerFunc { return g.consoleQueue }},
	{http.MethodGet, "/documents/:id", reviewers, "view document", func(g *Gateway) echo.HandlerFunc { return g.consoleDocument }},
	{http.MethodPost, "/documents/:id/decide", reviewers, "decide document", func(g *Gateway) echo.HandlerFunc { return g.consoleDecide }},
	{http.MethodGet, "/users", support, "", func(g *Gateway) echo.HandlerFunc { return g.consoleUserSearch }},
	{http.MethodGet, "/users/:id", support, "view user", func(g *Gateway) echo.HandlerFunc { return g.consoleUser }},
	{http.MethodPost, "/users/:id/sessions/revoke", support, "revoke sessions", func(g *Gateway) echo.HandlerFunc { return g.consoleRevoke }},
	{http.MethodPost, "/users/:id/unlock", support, "unlock PIN", func(g *Gateway) echo.HandlerFunc { return g.consoleUnlock }},
	{http.MethodPost, "/users/:id/deletion/cancel", support, "cancel deletion", func(g *Gateway) echo.HandlerFunc { return g.consoleCancelDeletion }},
	{http.MethodGet, "/staff", admins, "", func(g *Gateway) echo.HandlerFunc { return g.consoleStaff }},
	{http.MethodPost, "/staff", admins, "create staff", func(g *Gateway) echo.HandlerFunc { return g.consoleStaffCreate }},
	{http.MethodPost, "/staff/:name", admins, "update staff", func(g *Gateway) echo.HandlerFunc { return g.consoleStaffUpdate }},
	{http.MethodGet, "/audit", admins, "", func(g *Gateway) echo.HandlerFunc { return g.consoleAudit }},
	{http.MethodGet, "/audit.csv", admins, "export audit", func(g *Gateway) echo.HandlerFunc { return g.consoleAuditCSV }},
}
