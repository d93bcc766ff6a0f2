package e2e

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/dossapp/backend/pkg/contract"
)

// A user asks to be deleted; support sees the pending deletion on the
// user page and cancels it there, and the owner can log in again. A form
// without its CSRF token, and a reviewer's post, are refused and leave the
// deletion pending; a user with no deletion gets a clear refusal.
func TestConsoleCancelsADeletion(t *testing.T) {
	e := start(t, map[string]string{"DOSS_ADMIN_TOKENS": "alice:" + adminToken})
	const phone, email, pin = "+18681231702", "console-del@example.com", "4829"
	_, token := e.register(email, phone, pin)
	id := e.userID(token)
	_, otherToken := e.register("console-nodel@example.com", "+18681231703", pin)
	other := e.userID(otherToken)
	expect(t, e.deleteAccount(token, pin), 202)
	expect(t, e.loginPIN(phone, pin), 403)

	userPath := "/console/users/" + strconv.FormatInt(id, 10)
	cancelPath := userPath + "/deletion/cancel"
	sup := e.consoleClient()
	sup.mustLogin(t, e.staff("del-support", contract.RoleSupport))
	eventually(t, "the user page shows the pending deletion", func() bool {
		p := sup.get(t, userPath)
		return p.status == 200 && strings.Contains(p.body, `<dd id="deletion-status">pending</dd>`) && strings.Contains(p.body, `id="cancel-deletion"`)
	})
	stillPending := func(t *testing.T) {
		t.Helper()
		if p := sup.get(t, userPath); !strings.Contains(p.body, `<dd id="deletion-status">pending</dd>`) {
			t.Fatalf("the deletion is no longer pending: %.300s", p.body)
		}
		expect(t, e.loginPIN(phone, pin), 403)
	}

	t.Run("no CSRF token", func(t *testing.T) {
		for name, tok := range map[string]string{"none": "", "made up": "x"} {
			p := sup.do(t, http.MethodPost, cancelPath, url.Values{"_csrf": {tok}}, "")
			if p.status != 403 || !strings.Contains(p.body, "did not come from the console") {
				t.Fatalf("%s: %d %.300s", name, p.status, p.body)
			}
		}
		stillPending(t)
	})
	t.Run("a reviewer", func(t *testing.T) {
		rev := e.consoleClient()
		rev.mustLogin(t, e.staff("del-reviewer", contract.RoleReviewer))
		if p := rev.post(t, cancelPath, nil); p.status != 403 {
			t.Fatalf("a reviewer's cancel: %d", p.status)
		}
		stillPending(t)
	})
	t.Run("no deletion to cancel", func(t *testing.T) {
		otherPath := "/console/users/" + strconv.FormatInt(other, 10)
		if p := sup.get(t, otherPath); !strings.Contains(p.body, "No deletion requested.") || strings.Contains(p.body, `id="cancel-deletion"`) {
			t.Fatalf("a user without a deletion: %.300s", p.body)
		}
		p := sup.post(t, otherPath+"/deletion/cancel", nil)
		if p.status != 404 || !strings.Contains(p.body, "No deletion of this account can be cancelled.") || !strings.Contains(p.body, "console-nodel@example.com") {
			t.Fatalf("cancel with none: %d %.300s", p.status, p.body)
		}
	})

	sup.get(t, userPath) // the page's form token
	p := sup.post(t, cancelPath, nil)
	if p.status != 303 || !strings.HasPrefix(p.location, userPath+"?notice=") {
		t.Fatalf("cancel: %d %q %.300s", p.status, p.location, p.body)
	}
	p = sup.get(t, p.location)
	if !strings.Contains(p.body, `<dd id="deletion-status">cancelled</dd>`) || !strings.Contains(p.body, "by del-support") || !strings.Contains(p.body, "Deletion cancelled") || strings.Contains(p.body, `id="cancel-deletion"`) {
		t.Fatalf("the page after the cancel: %.1500s", p.body)
	}
	expect(t, e.loginPIN(phone, pin), 200)
	if d, ok := e.deletionOf(id); !ok || d.Status != contract.DeletionCancelled || d.CancelledBy != "del-support" {
		t.Fatalf("the admin API's view: %+v %v", d, ok)
	}
	eventually(t, "the cancel in the user's audit trail", func() bool {
		return strings.Contains(sup.get(t, userPath).body, "del-support cancel deletion (POST "+cancelPath+")")
	})
}
