package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
)

type strictTarget struct {
	Email string `json:"email"`
	Key   string `json:"key"`
	Inner struct {
		Name string `json:"name"`
	} `json:"inner"`
	List []struct {
		Name string `json:"name"`
	} `json:"list"`
}

func bindString(t *testing.T, body string, v any) error {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return bindJSON(echo.New().NewContext(req, httptest.NewRecorder()), v)
}

// Each body is one that encoding/json alone reads a second way: it must be
// refused with a 400.
func TestBindJSONRefusesBodiesReadTwoWays(t *testing.T) {
	for name, body := range map[string]string{
		"invalid UTF-8 in a value":     "{\"email\":\"\xff\xfe@example.com\"}",
		"invalid UTF-8 in a name":      "{\"em\xc3ail\":\"a@example.com\"}",
		"invalid UTF-8 outside":        "{\"email\":\"a@example.com\"}\xff",
		"lone high surrogate":          `{"email":"\ud800@example.com"}`,
		"lone low surrogate":           `{"email":"\udc00@example.com"}`,
		"high surrogate then a letter": `{"email":"\ud800\u0041@example.com"}`,
		"repeated name":                `{"email":"a@example.com","email":"b@example.com"}`,
		"repeated name, escaped":       `{"email":"a@example.com","\u0065mail":"b@example.com"}`,
		"repeated unknown name":        `{"fcm":"a","fcm":"b"}`,
		"repeated name in a member":    `{"inner":{"name":"a","name":"b"}}`,
		"repeated name in an array":    `{"list":[{"name":"a"},{"name":"a","name":"b"}]}`,
		"nested too deeply":            `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
		"not JSON":                     `{"email":`,
	} {
		t.Run(name, func(t *testing.T) {
			var dst strictTarget
			if err := bindString(t, body, &dst); !errors.As(err, new(badRequest)) {
				t.Fatalf("%q: got %v (%+v), want a 400", body, err, dst)
			}
		})
	}
}

// A name that matches a field only up to case is an unknown member: it is
// ignored, and never overrides the exact one.
func TestBindJSONMatchesNamesExactly(t *testing.T) {
	for _, c := range []struct{ name, body, email, key, inner string }{
		{"exact then upper case", `{"email":"a@example.com","EMAIL":"b@example.com"}`, "a@example.com", "", ""},
		{"upper case then exact", `{"EMAIL":"b@example.com","email":"a@example.com"}`, "a@example.com", "", ""},
		{"only another case", `{"Email":"b@example.com"}`, "", "", ""},
		{"escaped other case", `{"\u0045mail":"b@example.com"}`, "", "", ""},
		{"Kelvin sign folds to k", `{"key":"a","\u212aey":"b"}`, "", "a", ""},
		{"Kelvin sign alone", "{\"\u212aey\":\"b\"}", "", "", ""},
		{"in a member object", `{"inner":{"name":"a","NAME":"b"}}`, "", "", "a"},
		{"unknown members are ignored", `{"email":"a@example.com","fcm_last_login_device_token":"t","extra":{"Email":"x"}}`, "a@example.com", "", ""},
		{"valid escapes and letters", `{"email":"\u00e9\ud83d\ude00@example.com"}`, "é😀@example.com", "", ""},
		{"empty body", ``, "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var dst strictTarget
			if err := bindString(t, c.body, &dst); err != nil {
				t.Fatal(err)
			}
			if dst.Email != c.email || dst.Key != c.key || dst.Inner.Name != c.inner {
				t.Fatalf("%s → %+v", c.body, dst)
			}
		})
	}
	t.Run("in an array of objects", func(t *testing.T) {
		var dst strictTarget
		if err := bindString(t, `{"list":[{"NAME":"b","name":"a"}]}`, &dst); err != nil || len(dst.List) != 1 || dst.List[0].Name != "a" {
			t.Fatalf("%+v, %v", dst, err)
		}
	})
	t.Run("a contract request", func(t *testing.T) {
		var dst contract.LoginRequest
		if err := bindString(t, `{"phone":"+1","PASSWORD":"1111","password":"7193","Fcm_Last_Login_Device_Token":"x"}`, &dst); err != nil ||
			dst.Password != "7193" || dst.DeviceToken != "" {
			t.Fatalf("%+v, %v", dst, err)
		}
	})
}

func TestCheckJSONAllocatesNothingOnAnOrdinaryBody(t *testing.T) {
	body := []byte(`{"phone":"+14155550100","password":"7193","fcm_last_login_device_token":"device-token"}`)
	typ := reflect.TypeFor[*contract.LoginRequest]()
	if n := testing.AllocsPerRun(100, func() {
		if err := checkJSON(body, typ); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// BenchmarkBindJSON is the whole reading of a login body, with and without
// the pass that makes it strict: the pass's share of time and allocations.
func BenchmarkBindJSON(b *testing.B) {
	const body = `{"phone":"+14155550100","password":"7193","fcm_last_login_device_token":"device-token"}`
	b.Run("check only", func(b *testing.B) {
		raw, typ := []byte(body), reflect.TypeFor[*contract.LoginRequest]()
		b.ReportAllocs()
		for b.Loop() {
			_ = checkJSON(raw, typ)
		}
	})
	b.Run("bindJSON", func(b *testing.B) {
		e := echo.New()
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			var dst contract.LoginRequest
			if err := bindJSON(e.NewContext(req, nil), &dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}
