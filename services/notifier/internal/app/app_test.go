package app

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/seal"
	"github.com/dossapp/backend/services/notifier/internal/domain"
	"github.com/dossapp/backend/services/notifier/internal/templates"
)

// claims records what each claim would keep.
type claims struct {
	mu   sync.Mutex
	kept []domain.Message
}

func (c *claims) Claim(_ context.Context, _ string, m domain.Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kept = append(c.kept, m)
	return domain.StateSending, nil
}
func (c *claims) MarkSent(context.Context, string) error { return nil }
func (c *claims) Release(context.Context, string) error  { return nil }

// noDrops has no dropped device: these tests send no push.
type noDrops struct{}

func (noDrops) Drop(context.Context, string) error            { return nil }
func (noDrops) Dropped(context.Context, string) (bool, error) { return false, nil }

// What the delivery keeps for the user's export never holds the code, in
// any purpose on any channel, while the message sent does.
// testNotifier is a notifier with real templates and sealed codes that
// sends by email and SMS into sent, and keeps its deliveries in kept.
func testNotifier(t *testing.T, kept domain.Deliveries) (n *Notifier, box *seal.Box, sent *[]domain.Message) {
	t.Helper()
	box, err := seal.New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	sent = &[]domain.Message{}
	send := domain.SenderFunc(func(_ context.Context, m domain.Message) error { *sent = append(*sent, m); return nil })
	return New(box, tpl, map[string]domain.Sender{contract.ChannelEmail: send, contract.ChannelSMS: send}, kept, noDrops{}), box, sent
}

func TestKeptMessageHasNoCode(t *testing.T) {
	kept := &claims{}
	n, box, sentp := testNotifier(t, kept)
	purposes := []string{contract.PurposeRegisterEmail, contract.PurposeRegisterPhone, contract.PurposeLogin2FA, contract.PurposeProfile2FA,
		contract.PurposeChangeEmail, contract.PurposeChangePhone, contract.PurposeForgotPINSMS, contract.PurposeForgotPINEmail}
	for _, purpose := range purposes {
		for _, channel := range []string{contract.ChannelEmail, contract.ChannelSMS} {
			t.Run(purpose+"/"+channel, func(t *testing.T) {
				const code, to = "739251", "someone@example.com"
				ev, err := events.New(t.Context(), contract.EventOTPRequested, contract.OTPRequested{
					Channel: channel, To: to, Purpose: purpose, UserUUID: "u-1", ExpiresAt: time.Now().Add(10 * time.Minute),
					SealedCode: box.Seal([]byte(code), []byte(purpose+":"+to)),
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := n.HandleEvent(t.Context(), ev); err != nil {
					t.Fatal(err)
				}
				sent := *sentp
				m, k := sent[len(sent)-1], kept.kept[len(kept.kept)-1]
				if !strings.Contains(m.Subject+m.Body, code) {
					t.Fatalf("the message sent has no code, so this test proves nothing: %q", m.Body)
				}
				if strings.Contains(k.Shown.Subject+k.Shown.Body, code) || !strings.Contains(k.Shown.Body, contract.ExportRedacted) {
					t.Errorf("kept %q / %q", k.Shown.Subject, k.Shown.Body)
				}
				if k.UserUUID != "u-1" || k.Template != purpose {
					t.Errorf("kept for %q as %q", k.UserUUID, k.Template)
				}
			})
		}
	}
}

// A code handled after it expired (the notifier was down, or a new
// consumer read the stream from its start) is not sent: it would not work.
func TestExpiredCodeIsNotSent(t *testing.T) {
	n, box, sent := testNotifier(t, &claims{})
	const to = "+18681230001"
	for _, c := range []struct {
		expires time.Time
		sent    int
	}{{time.Now().Add(-time.Second), 0}, {time.Now().Add(time.Minute), 1}} {
		ev, err := events.New(t.Context(), contract.EventOTPRequested, contract.OTPRequested{
			Channel: contract.ChannelSMS, To: to, Purpose: contract.PurposeLogin2FA, ExpiresAt: c.expires,
			SealedCode: box.Seal([]byte("739251"), []byte(contract.PurposeLogin2FA+":"+to)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.HandleEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		if len(*sent) != c.sent {
			t.Fatalf("a code expiring at %s: %d sent, want %d", c.expires.Format(time.TimeOnly), len(*sent), c.sent)
		}
	}
}
