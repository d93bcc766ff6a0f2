package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/devstack/stack"
)

// Accounts written by make seed's stack.Seed, straight into the stores,
// are whole ones: each logs in with its phone and PIN through the
// gateway, has its profile, and every tenth its document; and a
// registration after the seed still works beside them.
func TestSeededAccountsLogInAndHaveTheirProfileAndDocuments(t *testing.T) {
	e := start(t, nil)
	client, db, err := mongox.Connect(t.Context(), e.ks.Mongo.URI, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(t.Context()) })
	const n, pin = 25, "4829"
	if err := stack.Seed(t.Context(), e.getenv, db, pin, 0, n); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 7, 10, n - 1} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r := e.loginPIN(stack.SeedPhone(i), pin)
			expect(t, r, 200)
			token := r.str("response", "token")
			p := e.do(http.MethodGet, "/api/v2/profile", token, "")
			expect(t, p, 200)
			if got := p.str("email"); got != stack.SeedEmail(i) {
				t.Errorf("profile email %q, want %q: %s", got, stack.SeedEmail(i), p.raw)
			}
			docs, _ := e.listDocuments(token, "")
			if want := map[bool]int{true: 1, false: 0}[i%10 == 0]; len(docs) != want {
				t.Errorf("%d documents listed, want %d", len(docs), want)
			}
			expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"Ada","last_name":"Seed"}`), 200)
		})
	}
	if r := e.loginPIN(stack.SeedPhone(3), "1111"); r.status != 401 && r.status != 422 {
		t.Errorf("a wrong PIN: %d %s", r.status, r.raw)
	}
	e.register("after-seed@example.com", "+18681230099", pin)
}
