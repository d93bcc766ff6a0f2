package adapters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"

	"github.com/dossapp/backend/services/notifier/internal/domain"
)

// FCMScope is the OAuth2 scope FCM HTTP v1 asks for.
const FCMScope = "https://www.googleapis.com/auth/firebase.messaging"

// FCMBaseURL is where FCM HTTP v1 lives; tests point it at a fake.
const FCMBaseURL = "https://fcm.googleapis.com"

// FCMKey is a service-account key as Google issues it (the JSON file),
// read and checked once at start so a broken key stops the service rather
// than every push.
type FCMKey struct {
	ProjectID string
	jwt       *jwt.Config
}

// ParseFCMKey reads a service-account JSON key. Its token_uri (where the
// signed assertion is sent) and the FCM base URL must be https, or
// http to a loopback address (the tests' fakes): the assertion and the
// access token are bearer credentials.
func ParseFCMKey(data []byte) (FCMKey, error) {
	var f struct {
		ProjectID   string `json:"project_id"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
		TokenURI    string `json:"token_uri"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return FCMKey{}, fmt.Errorf("not a JSON key: %w", err)
	}
	conf, err := google.JWTConfigFromJSON(data, FCMScope)
	if err != nil {
		return FCMKey{}, err
	}
	switch {
	case f.ProjectID == "":
		return FCMKey{}, errors.New("project_id is empty")
	case f.ClientEmail == "":
		return FCMKey{}, errors.New("client_email is empty")
	}
	if err := checkRSAKey(f.PrivateKey); err != nil {
		return FCMKey{}, fmt.Errorf("private_key: %w", err)
	}
	if err := CheckSecureURL(conf.TokenURL); err != nil {
		return FCMKey{}, fmt.Errorf("token_uri: %w", err)
	}
	return FCMKey{ProjectID: f.ProjectID, jwt: conf}, nil
}

func checkRSAKey(p string) error {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return errors.New("no PEM block")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return nil
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		return errors.New("neither PKCS#8 nor PKCS#1")
	}
	return nil
}

// CheckSecureURL accepts https, and http only to a loopback host.
func CheckSecureURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); u.Scheme == "http" && (host == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%q: must be https (http only to a loopback address)", raw)
}

// AccessTokens mints OAuth2 access tokens for a service account (the JWT
// bearer grant at the key's token_uri) and keeps the newest until shortly
// before it expires. One mint at a time: concurrent sends share it.
type AccessTokens struct {
	key    FCMKey
	client *http.Client
	now    func() time.Time
	// early is how long before its expiry a token is replaced, so one
	// handed out is still good when FCM reads it.
	early time.Duration

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewAccessTokens mints through client; now is the clock expiry is
// judged by (time.Now in production, a test's own clock in tests).
func NewAccessTokens(key FCMKey, client *http.Client, now func() time.Time) *AccessTokens {
	if now == nil {
		now = time.Now
	}
	return &AccessTokens{key: key, client: client, now: now, early: time.Minute}
}

// Token returns a live access token, minting one when none is cached or
// the cached one is about to expire.
func (a *AccessTokens) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.now().Before(a.expires.Add(-a.early)) {
		return a.token, nil
	}
	// A fresh jwt source each time: the library's own cache judges expiry
	// by the wall clock, ours by a.now.
	tok, err := a.key.jwt.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, a.client)).Token()
	if err != nil {
		return "", fmt.Errorf("fcm access token: %w", err)
	}
	if tok.AccessToken == "" {
		return "", errors.New("fcm access token: empty token in the answer")
	}
	lifetime := time.Hour // what Google grants when the answer names none
	if !tok.Expiry.IsZero() {
		lifetime = time.Until(tok.Expiry)
	}
	a.token, a.expires = tok.AccessToken, a.now().Add(lifetime)
	return a.token, nil
}

// Invalidate forgets token if it is the cached one (FCM refused it), so
// the next Token mints anew; a newer token minted meanwhile stays.
func (a *AccessTokens) Invalidate(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token, a.expires = "", time.Time{}
	}
}

// FCMSender posts to FCM HTTP v1, {base}/v1/projects/{project}/messages:send,
// with a service-account access token.
type FCMSender struct {
	endpoint string
	tokens   *AccessTokens
	client   *http.Client
}

// NewFCMSender sends for key's project to base (FCMBaseURL in production).
func NewFCMSender(base string, key FCMKey, tokens *AccessTokens, client *http.Client) (*FCMSender, error) {
	if err := CheckSecureURL(base); err != nil {
		return nil, err
	}
	endpoint := strings.TrimRight(base, "/") + "/v1/projects/" + url.PathEscape(key.ProjectID) + "/messages:send"
	return &FCMSender{endpoint: endpoint, tokens: tokens, client: client}, nil
}

type pushBody struct {
	Message struct {
		Token        string `json:"token"`
		Notification struct {
			Title string `json:"title"`
			Body  string `json:"body"`
		} `json:"notification"`
	} `json:"message"`
}

// fcmError is Google's error body; FCM puts its own code in a detail.
type fcmError struct {
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Message string `json:"message"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

// fcmErrorType marks a detail FCM itself wrote about the message (not
// Google's front end about a project or an API).
const fcmErrorType = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

// errorCode is FCM's own code, and whether FCM wrote a detail at all.
func (e fcmError) errorCode() (string, bool) {
	for _, d := range e.Error.Details {
		if d.Type == fcmErrorType {
			return d.ErrorCode, true
		}
	}
	return "", false
}

// Send posts one message. A 401 (the token was revoked or expired early)
// mints a new token and tries once more. The device token is reported
// unregistered (domain.ErrUnregistered) only when FCM itself says so: its
// UNREGISTERED code, or a 404 carrying an FcmError detail. Any other 404
// (a wrong base URL, a proxy, Google's front end on an unknown project)
// is an ordinary failure, retried, so a misconfiguration cannot drop every
// device. INVALID_ARGUMENT is
// permanent (domain.ErrRejected); 429, 5xx and the rest are retried.
func (s *FCMSender) Send(ctx context.Context, m domain.Message) error {
	var b pushBody
	b.Message.Token = m.To
	b.Message.Notification.Title = m.Subject
	b.Message.Notification.Body = m.Body
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		token, err := s.tokens.Token(ctx)
		if err != nil {
			return err
		}
		status, detail, err := s.post(ctx, token, body)
		if err != nil {
			return err
		}
		if status/100 == 2 {
			return nil
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			s.tokens.Invalidate(token)
			continue
		}
		return classifyFCM(status, detail)
	}
}

func (s *FCMSender) post(ctx context.Context, token string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("push provider: %w", err)
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, detail, nil
}

func classifyFCM(status int, detail []byte) error {
	var e fcmError
	googleBody := json.Unmarshal(detail, &e) == nil && e.Error.Status != ""
	code, fromFCM := e.errorCode()
	summary := fmt.Sprintf("push provider: %d %s %s: %s", status, e.Error.Status, code, e.Error.Message)
	if !googleBody {
		summary = fmt.Sprintf("push provider: %d: %s", status, strings.TrimSpace(string(detail[:min(len(detail), 512)])))
	}
	switch {
	case code == "UNREGISTERED", status == http.StatusNotFound && fromFCM:
		return fmt.Errorf("%w: %s", domain.ErrUnregistered, summary)
	case code == "INVALID_ARGUMENT", status == http.StatusBadRequest && googleBody && e.Error.Status == "INVALID_ARGUMENT":
		return fmt.Errorf("%w: %s", domain.ErrRejected, summary)
	}
	return errors.New(summary)
}

// DeviceFingerprint names a device token in logs and the store without
// revealing it (the token is what a push is addressed with).
func DeviceFingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
