package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
)

// routes is every HTTP route; each maps to one NATS subject.
func (g *Gateway) routes(e *echo.Echo) {
	e.GET("/healthz", g.healthz)
	e.GET("/readyz", g.readyz)
	g.openapiRoutes(e)

	api := e.Group("/api")
	v2 := api.Group("/v2")
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
	v2.POST("/new-login", g.login)
	v2.POST("/forgot_pin", forward[contract.ForgotPINRequest, struct{}](g, contract.AuthForgotPIN, func(struct{}) any {
		return echo.Map{"message": contract.ForgotPINMessage}
	}))
	v2.POST("/reset_pin", forward[contract.ResetPINRequest, contract.Session](g, contract.AuthResetPIN, func(s contract.Session) any {
		return echo.Map{"response": s}
	}))

	authed := api.Group("", g.verifier.authenticate)
	authed.POST("/v2/logout", g.logout)
	authed.GET("/v2/profile", g.getProfile)
	authed.POST("/v2/update_name", g.invalidating(g.updateName()))
	authed.POST("/v2/update_email", g.invalidating(g.updateEmail()))
	authed.POST("/v2/update_phone", g.invalidating(g.updatePhone()))
	authed.POST("/v2/verify_contact", g.invalidating(g.verifyContact()))
	authed.POST("/v2/update_image", g.invalidating(g.updateImage))
	authed.GET("/v2/account/export", g.accountExport)
	g.documentRoutes(authed)
	g.accountRoutes(authed)
	g.accountAuthRoutes(api, authed)
	g.passRoutes(e, api, authed)
	g.deletionRoutes(authed)

	if len(g.adminTokens) > 0 {
		admin := e.Group("/admin/v1", g.adminAuth)
		admin.GET("/whoami", func(c echo.Context) error {
			return c.JSON(http.StatusOK, echo.Map{"admin": c.Get(callerKey).(contract.Principal).Admin, "role": c.Get(adminRoleKey)})
		})
		// Per-key roles (DOSS_ADMIN_TOKENS name:role:token): documents for
		// reviewers, postings for support, admins everything.
		g.documentAdminRoutes(admin.Group("", adminAllow(contract.RoleReviewer, contract.RoleAdmin)))
		g.accountAdminRoutes(admin.Group("", adminAllow(contract.RoleSupport, contract.RoleAdmin)))
		g.deletionAdminRoutes(admin.Group("", adminAllow(contract.RoleSupport, contract.RoleAdmin)))
	}
	g.consoleRoutes(e)

	if g.dev {
		e.GET("/dev/outbox", g.devOutbox)
	}
	e.RouteNotFound("/*", func(c echo.Context) error { return echo.NewHTTPError(http.StatusNotFound) })
}
