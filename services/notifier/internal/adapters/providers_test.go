package adapters

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dossapp/backend/services/notifier/internal/domain"
)

func TestSMSSender(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		wantErr bool
	}{
		{"accepted", http.StatusCreated, false},
		{"refused", http.StatusBadRequest, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *http.Request
			var form map[string][]string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				got, form = r, r.PostForm
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"sid":"SM1"}`)
			}))
			defer srv.Close()
			s := NewSMSSender(SMSConfig{URL: srv.URL + "/", AccountSID: "AC123", AuthToken: "tok", From: "+15550000"}, srv.Client())
			err := s.Send(t.Context(), domain.Message{Channel: "sms", To: "+15551234", Body: "code 123456"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got.Method != http.MethodPost || got.URL.Path != "/2010-04-01/Accounts/AC123/Messages.json" {
				t.Errorf("request = %s %s", got.Method, got.URL.Path)
			}
			if user, pass, ok := got.BasicAuth(); !ok || user != "AC123" || pass != "tok" {
				t.Errorf("basic auth = %q %q %v", user, pass, ok)
			}
			if form["To"][0] != "+15551234" || form["From"][0] != "+15550000" || form["Body"][0] != "code 123456" {
				t.Errorf("form = %v", form)
			}
		})
	}
}

// fakeSMTP is the smallest SMTP server net/smtp will talk to: it offers
// AUTH PLAIN (no STARTTLS) and keeps what it was given.
type fakeSMTP struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	auth string
	from string
	rcpt []string
	data string
}

func startFakeSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(conn)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeSMTP) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	_ = tp.PrintfLine("220 fake ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		f.mu.Lock()
		switch verb {
		case "EHLO", "HELO":
			_ = tp.PrintfLine("250-fake\r\n250 AUTH PLAIN")
		case "AUTH":
			f.auth = line
			_ = tp.PrintfLine("235 ok")
		case "MAIL":
			f.from = line
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			f.rcpt = append(f.rcpt, line)
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go on")
			f.mu.Unlock()
			b, err := tp.ReadDotBytes()
			f.mu.Lock()
			if err != nil {
				f.mu.Unlock()
				return
			}
			f.data = string(b)
			_ = tp.PrintfLine("250 queued")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			f.mu.Unlock()
			return
		default:
			_ = tp.PrintfLine("250 ok")
		}
		f.mu.Unlock()
	}
}

func TestSMTPSender(t *testing.T) {
	f := startFakeSMTP(t)
	s, err := NewSMTPSender("smtp://mailer:secret@"+f.ln.Addr().String(), "DOSS <no-reply@doss.test>")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m := domain.Message{Channel: "email", To: "ann@example.com", Subject: "Your code", Body: "Hello,\nyour code is 123456."}
	if err := s.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSMTPSender("smtp://"+f.ln.Addr().String(), "not an address"); err == nil {
		t.Error("a From that is not an address was taken")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !strings.HasPrefix(f.auth, "AUTH PLAIN ") {
		t.Errorf("auth = %q", f.auth)
	}
	// The envelope takes the bare address: a real server (Mailpit) refuses
	// "MAIL FROM:<DOSS <no-reply@…>>" with 501, and every mail is lost.
	if f.from != "MAIL FROM:<no-reply@doss.test>" && !strings.HasPrefix(f.from, "MAIL FROM:<no-reply@doss.test> ") || len(f.rcpt) != 1 || !strings.Contains(f.rcpt[0], "<ann@example.com>") {
		t.Errorf("from %q rcpt %q", f.from, f.rcpt)
	}
	for _, want := range []string{"To: ann@example.com", "Subject: Your code", "your code is 123456."} {
		if !strings.Contains(f.data, want) {
			t.Errorf("data lacks %q:\n%s", want, f.data)
		}
	}
}

func TestNewSMTPSenderRejectsBadURL(t *testing.T) {
	for _, u := range []string{"http://x:25", "smtp://", "::"} {
		if _, err := NewSMTPSender(u, "a@b"); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}
