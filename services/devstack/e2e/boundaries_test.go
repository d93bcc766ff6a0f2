package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/services/devstack/stack"
)

// Auth calls no service: profile calls auth, and what auth needs of
// profile comes by events (docs/architecture.md). These tests hold the
// direction.

// loginNames are the names a login answers with.
func (e *env) loginNames(phone, pin string) (string, string) {
	e.t.Helper()
	r := e.loginPIN(phone, pin)
	expect(e.t, r, http.StatusOK)
	return r.str("response", "user", "first_name"), r.str("response", "user", "last_name")
}

// loginShows polls until a login answers with first and last.
func (e *env) loginShows(phone, pin, first, last string) {
	e.t.Helper()
	eventually(e.t, "a login with the names "+first+" "+last, func() bool {
		f, l := e.loginNames(phone, pin)
		return f == first && l == last
	})
}

// handled waits until auth's names consumer has acknowledged every event
// up to the stream sequence seq.
func (e *env) handled(seq uint64) {
	e.t.Helper()
	jsc, err := jetstream.New(e.nc)
	if err != nil {
		e.t.Fatal(err)
	}
	eventually(e.t, "auth to handle the names event", func() bool {
		c, err := jsc.Consumer(context.Background(), contract.StreamEvents, contract.DurableAuthNames)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.AckFloor.Stream >= seq
	})
}

// announce publishes a names event as profile would.
func (e *env) announce(d contract.ProfileNamesChanged) uint64 {
	e.t.Helper()
	ev, err := events.New(context.Background(), contract.EventProfileNamesChanged, d)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, _ := json.Marshal(ev)
	jsc, err := jetstream.New(e.nc)
	if err != nil {
		e.t.Fatal(err)
	}
	ack, err := jsc.Publish(context.Background(), contract.EventSubject(ev.Type), raw, jetstream.WithMsgID(ev.ID))
	if err != nil {
		e.t.Fatal(err)
	}
	return ack.Sequence
}

// A login answers with the names the profile last set, from auth's own
// copy: after update_name (and the account form), within the event's
// delivery; with profile stopped, as well; an older event arriving late
// and a redelivered one change nothing.
func TestLoginNamesFollowProfileByEvents(t *testing.T) {
	e := start(t, nil)
	const phone, pin = "+18681230301", "4829"
	uuid, token := e.register("names@example.com", phone, pin)
	id := e.userID(token)
	if first, last := e.loginNames(phone, pin); first != "" || last != "" {
		t.Fatalf("names before any were set: %q %q", first, last)
	}
	expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"Ada","last_name":"Lovelace"}`), 200)
	e.loginShows(phone, pin, "Ada", "Lovelace")
	expect(t, e.do(http.MethodPost, "/api/v2/update_name", token, `{"first_name":"Grace","last_name":"Hopper"}`), 200)
	e.loginShows(phone, pin, "Grace", "Hopper") // version 2
	e.setAccount(token, phone, "Mary", "Somerville", "1990-05-15")
	e.loginShows(phone, pin, "Mary", "Somerville") // version 3

	t.Run("an older event arriving late", func(t *testing.T) {
		e.handled(e.announce(contract.ProfileNamesChanged{UserID: id, UUID: uuid, FirstName: "Stale", LastName: "Grace", Version: 2}))
		if first, last := e.loginNames(phone, pin); first != "Mary" || last != "Somerville" {
			t.Fatalf("login names %q %q after an older event", first, last)
		}
	})
	t.Run("a redelivery", func(t *testing.T) {
		e.handled(e.announce(contract.ProfileNamesChanged{UserID: id, UUID: uuid, FirstName: "Again", LastName: "Mary", Version: 3}))
		if first, last := e.loginNames(phone, pin); first != "Mary" || last != "Somerville" {
			t.Fatalf("login names %q %q after a redelivery", first, last)
		}
	})
	t.Run("profile stopped", func(t *testing.T) {
		if err := e.proc(contract.ServiceProfile).Stop(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if first, last := e.loginNames(phone, pin); first != "Mary" || last != "Somerville" {
			t.Fatalf("login names %q %q with profile stopped", first, last)
		}
		// A login that waited for profile would have spent its timeout.
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a login took %v with profile stopped", d)
		}
		// Registration needs no profile either.
		_, tok := e.register("names-noprofile@example.com", "+18681230302", pin)
		if tok == "" {
			t.Fatal("no token from confirm_pin with profile stopped")
		}
	})
}

// The server refuses auth's requests to every other service: what auth
// once asked profile (the names, the passes' revocation) now reaches it
// by events.
func TestAuthCannotCallOtherServices(t *testing.T) {
	e := start(t, nil)
	auth := e.busAs(contract.ServiceAuth)
	for _, subject := range []string{contract.ProfileGet, contract.ProfilePassRevoke, contract.ProfileAdminGet, contract.DocumentsList} {
		t.Run(subject, func(t *testing.T) {
			if reply, err := auth.Request(subject, []byte("{}"), 500*time.Millisecond); err == nil {
				t.Fatalf("answered: %s", reply.Data)
			}
		})
	}
	// The same request from the gateway's user is answered: the refusal
	// above is the permissions', not a missing service.
	if _, err := e.busAs(contract.BusGateway).Request(contract.ProfilePassKeys, nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// A deletion request revokes the account's passes through its event, which
// profile reads: asked while profile is down, the request still succeeds
// (auth waits on no one), and the pass is revoked once profile is back.
func TestDeletionRequestRevokesPassesByEvent(t *testing.T) {
	e := start(t, map[string]string{"DOSS_PASS_VERIFY_PER_MIN": "100000"}) // the test polls the verify
	const phone, pin = "+18681230311", "4829"
	_, token := e.register("del-pass-event@example.com", phone, pin)
	pass := e.issuePass(token, map[string]any{})
	if r := e.verifyPass(pass); r.body["valid"] != true {
		t.Fatalf("a new pass: %s", r.raw)
	}
	if err := e.proc(contract.ServiceProfile).Stop(); err != nil {
		t.Fatal(err)
	}
	expect(t, e.deleteAccount(token, pin), 202)
	p, err := stack.Start(e.nc, contract.ServiceProfile, e.getenv, e.logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	eventually(t, "the pass revoked", func() bool {
		r := e.verifyPass(pass)
		return r.body["valid"] == false && r.str("reason") == contract.PassRevoked
	})
}

// The names a login answers with, the documents events every gateway
// drops its cached lists on, and the contact changes profile shows come
// only from their owners: a process on
// the bus with any other service's credentials cannot rename a user in
// auth's copy or publish a documents change, core or JetStream.
func TestOnlyTheirOwnersPublishNamesAndDocumentsEvents(t *testing.T) {
	e := start(t, nil)
	const phone, pin = "+18681230303", "4829"
	uuid, token := e.register("names-forged@example.com", phone, pin)
	id := e.userID(token)
	names, err := events.New(context.Background(), contract.EventProfileNamesChanged,
		contract.ProfileNamesChanged{UserID: id, UUID: uuid, FirstName: "Forged", LastName: "Name", Version: 99})
	if err != nil {
		t.Fatal(err)
	}
	added, err := events.New(context.Background(), contract.EventDocumentAdded,
		contract.DocumentChanged{DocumentID: 1, TypeID: 1, Status: contract.DocumentApproved, Snapshot: contract.DocumentsSnapshot{UserID: id, Version: 99}})
	if err != nil {
		t.Fatal(err)
	}
	// A contact change makes profile show the new address (and, read
	// before the profile exists, makes it from auth's account).
	changed, err := events.New(context.Background(), contract.EventEmailChanged,
		contract.ContactChanged{UserID: id, UUID: uuid, Old: "names-forged@example.com", New: "mallory@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for owner, ev := range map[string]contract.Event{contract.ServiceProfile: names, contract.ServiceDocuments: added, contract.ServiceAuth: changed} {
		raw, _ := json.Marshal(ev)
		for _, user := range []string{contract.BusGateway, contract.ServiceAuth, contract.ServiceProfile, contract.ServiceDocuments, contract.ServiceNotifier} {
			if user == owner {
				continue
			}
			t.Run(user+" publishes "+ev.Type, func(t *testing.T) {
				nc := e.busAs(user)
				jsc, err := jetstream.New(nc)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				if _, err := jsc.Publish(ctx, contract.EventSubject(ev.Type), raw); err == nil {
					t.Fatal("the stream stored it")
				}
				// A core publish is refused by the server too: the
				// connection hears of the violation.
				_ = nc.Publish(contract.EventSubject(ev.Type), raw)
				if err := nc.Flush(); err == nil {
					if err := nc.LastError(); err == nil {
						t.Fatal("a core publish was not refused")
					}
				}
			})
		}
	}
	if first, last := e.loginNames(phone, pin); first != "" || last != "" {
		t.Fatalf("a login answers with %q %q after the forgeries", first, last)
	}
	// Had the stream stored a forged change, profile would have handled it
	// once its consumer has nothing left.
	e.drained(t, "profile's contact-change consumer drained", contract.ConsumerName(contract.DurableProfileAccounts, contract.EventEmailChanged))
	if got := e.do(http.MethodGet, "/api/v2/profile", token, "").str("email"); got != "names-forged@example.com" {
		t.Fatalf("the profile's email is %q after the forgeries", got)
	}
}
