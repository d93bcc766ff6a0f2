package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
)

// adminToken is the test operator's credential (DOSS_ADMIN_TOKENS).
const adminToken = "test-admin-token-0123456789abcdef0123"

func startWithAdmin(t *testing.T) *env {
	return start(t, map[string]string{"DOSS_ADMIN_TOKENS": "alice:" + adminToken})
}

func TestAdminAPIIsOffWithoutTokens(t *testing.T) {
	e := start(t, nil)
	expect(t, e.do(http.MethodGet, "/admin/v1/whoami", adminToken, ""), 404)
}

func TestAdminAuthAndAudit(t *testing.T) {
	e := startWithAdmin(t)
	_, userToken := e.register("ops@example.com", "+14155550199", "7193")
	for name, tok := range map[string]string{
		"no token":        "",
		"wrong token":     "test-admin-token-0123456789abcdef0124",
		"prefix of token": adminToken[:20],
		"a user's token":  userToken,
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do(http.MethodGet, "/admin/v1/whoami", tok, "")
			expect(t, r, 401)
			if r.str("message") == "" {
				t.Fatalf("no message: %s", r.raw)
			}
		})
	}
	r := e.do(http.MethodGet, "/admin/v1/whoami", adminToken, "")
	expect(t, r, 200)
	if r.str("admin") != "alice" {
		t.Fatalf("whoami: %s", r.raw)
	}

	// The call left an audit record in the event stream: who, what, when.
	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(context.Background(), contract.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(context.Background(), contract.EventSubject(contract.EventAdminAudited))
	if err != nil {
		t.Fatalf("no audit record: %v", err)
	}
	var ev contract.Event
	var a contract.AdminAudited
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Decode(&a) != nil {
		t.Fatalf("audit record: %s", msg.Data)
	}
	if a.Admin != "alice" || a.Method != "GET" || a.Path != "/admin/v1/whoami" || a.At.IsZero() {
		t.Fatalf("audit record: %+v", a)
	}
}
