package adapters

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/dossapp/backend/services/notifier/internal/domain"
)

// SMSConfig is a Twilio-compatible messages API.
type SMSConfig struct {
	URL        string // e.g. https://api.twilio.com
	AccountSID string
	AuthToken  string
	From       string
}

// SMSSender posts {url}/2010-04-01/Accounts/{sid}/Messages.json.
type SMSSender struct {
	cfg    SMSConfig
	client *http.Client
}

func NewSMSSender(cfg SMSConfig, client *http.Client) *SMSSender {
	return &SMSSender{cfg: cfg, client: client}
}

func (s *SMSSender) Send(ctx context.Context, m domain.Message) error {
	endpoint := strings.TrimRight(s.cfg.URL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(s.cfg.AccountSID) + "/Messages.json"
	form := url.Values{"To": {m.To}, "From": {s.cfg.From}, "Body": {m.Body}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.cfg.AccountSID, s.cfg.AuthToken)
	return do(s.client, req, "sms")
}

// do sends req and turns any non-2xx answer into an error (with a bounded
// piece of the provider's reply, which never holds our message body).
func do(client *http.Client, req *http.Request, what string) error {
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s provider: %w", what, err)
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s provider: %s: %s", what, resp.Status, strings.TrimSpace(string(detail)))
	}
	return nil
}
