package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// An admin call is about a user only when its route names one by id; a
// document's id, a malformed id or another route names no one.
func TestAuditedUser(t *testing.T) {
	e := echo.New()
	var got int64
	record := func(c echo.Context) error { got = auditedUser(c); return nil }
	for _, r := range []string{"/admin/v1/users/:id/wallet", "/admin/v1/users/:id/orders", "/admin/v1/documents/:id/approve", "/admin/v1/whoami"} {
		e.POST(r, record)
	}
	for path, want := range map[string]int64{
		"/admin/v1/users/42/wallet":     42,
		"/admin/v1/users/7/orders":      7,
		"/admin/v1/users/-3/wallet":     0,
		"/admin/v1/users/x/wallet":      0,
		"/admin/v1/documents/9/approve": 0,
		"/admin/v1/whoami":              0,
	} {
		t.Run(path, func(t *testing.T) {
			got = -1
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, path, nil))
			if got != want {
				t.Fatalf("auditedUser = %d, want %d", got, want)
			}
		})
	}
}
