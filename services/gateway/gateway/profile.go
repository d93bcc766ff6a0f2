package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/natsx"
)

// getProfile answers GET /v2/profile with the profile as a top-level
// object, the shape the app parses.
// A cached answer is served with no NATS round trip.
func (g *Gateway) getProfile(c echo.Context) error {
	uid := c.Get(callerKey).(contract.Principal).UserID
	if body, ok := g.cache.get(uid); ok {
		return c.JSONBlob(http.StatusOK, body)
	}
	ticket := g.cache.ticket()
	p, err := natsx.Call[contract.ProfileGetRequest, contract.Profile](g.callCtx(c), g.nc, contract.ProfileGet, contract.ProfileGetRequest{Fresh: g.cache.changed(uid)})
	if err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	g.cache.put(uid, body, ticket, linksExpire(p))
	return c.JSONBlob(http.StatusOK, body)
}

// linkMargin is how long before a signed link expires a cached answer
// holding it stops being served, so a phone still has time to fetch it.
const linkMargin = 2 * time.Minute

// linksExpire is when the first signed link in p stops working, less the
// margin (zero when p holds none): a cached profile never hands out a link
// that is dead or about to be, whatever the cache TTL. The links are SigV4
// presigned URLs, which say when they were signed and for how long.
func linksExpire(p contract.Profile) time.Time {
	var first time.Time
	for _, l := range []*string{p.Image, p.IDProofFront, p.IDProofBack, p.PassportImgFront, p.PassportImgBack, p.DrivingLicenseFront, p.DrivingLicenseBack} {
		if l == nil {
			continue
		}
		u, err := url.Parse(*l)
		if err != nil {
			return time.Now() // unreadable: do not cache
		}
		q := u.Query()
		signed, err1 := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
		secs, err2 := strconv.Atoi(q.Get("X-Amz-Expires"))
		if err1 != nil || err2 != nil {
			return time.Now()
		}
		if exp := signed.Add(time.Duration(secs)*time.Second - linkMargin); first.IsZero() || exp.Before(first) {
			first = exp
		}
	}
	return first
}

// updateName answers POST /v2/update_name with the updated profile.
func (g *Gateway) updateName() echo.HandlerFunc {
	return forward[contract.UpdateNameRequest, contract.Profile](g, contract.ProfileUpdateName, func(p contract.Profile) any { return p })
}

// updateEmail answers POST /v2/update_email with the updated profile.
func (g *Gateway) updateEmail() echo.HandlerFunc {
	return forward[contract.UpdateEmailRequest, contract.Profile](g, contract.ProfileUpdateEmail, func(p contract.Profile) any { return p })
}

// updatePhone answers POST /v2/update_phone with the updated profile.
func (g *Gateway) updatePhone() echo.HandlerFunc {
	return forward[contract.UpdatePhoneRequest, contract.Profile](g, contract.ProfileUpdatePhone, func(p contract.Profile) any { return p })
}

// verifyContact answers POST /v2/verify_contact with the profile once the
// pending email or phone is verified.
func (g *Gateway) verifyContact() echo.HandlerFunc {
	return forward[contract.VerifyContactRequest, contract.Profile](g, contract.ProfileVerifyContact, func(p contract.Profile) any { return p })
}
