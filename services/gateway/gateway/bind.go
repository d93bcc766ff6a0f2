package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/dossapp/backend/pkg/contract"
)

// bindJSON reads a JSON object into v, the one way every endpoint reads
// JSON. Unknown fields are ignored (the app may send more than an endpoint
// needs, such as its device token); names match exactly (checkJSON), so a
// name in another case is unknown; invalid UTF-8 and a repeated name are a
// 400; a value of the wrong type, such as an object where a string belongs,
// is a 422 naming the field.
func bindJSON(c echo.Context, v any) error {
	req := c.Request()
	ct := req.Header.Get(echo.HeaderContentType)
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != echo.MIMEApplicationJSON {
			return &contract.Error{Code: contract.UnsupportedMedia, Message: "Send the request body as application/json."}
		}
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		return badRequest{"The request body could not be read."}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := checkJSON(body, reflect.TypeOf(v)); err != nil {
		return err
	}
	err = json.Unmarshal(body, v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te) && te.Field != "":
		return contract.FieldError(te.Field, "The "+te.Field+" field must be a "+typeName(te.Type.Kind().String())+".")
	case errors.As(err, &te):
		return badRequest{"The request body must be a JSON object."}
	case json.Valid(body):
		// Well-formed, but a field's own decoder (a time, say) refused
		// its value: that is a validation error of that field.
		if f := refusedField(body, v); f != "" {
			return contract.FieldError(f, "The "+f+" field is invalid.")
		}
		return badRequest{"The request body could not be read."}
	default:
		return badRequest{"The request body is not valid JSON."}
	}
}

// refusedField is the first top-level field, by name, whose value alone
// does not decode into a fresh v, or "".
func refusedField(body []byte, v any) string {
	var fields map[string]json.RawMessage
	if reflect.TypeOf(v).Kind() != reflect.Pointer || json.Unmarshal(body, &fields) != nil {
		return ""
	}
	names := slices.Sorted(maps.Keys(fields))
	for _, name := range names {
		one, err := json.Marshal(map[string]json.RawMessage{name: fields[name]})
		if err != nil {
			continue
		}
		if json.Unmarshal(one, reflect.New(reflect.TypeOf(v).Elem()).Interface()) != nil {
			return name
		}
	}
	return ""
}

func typeName(kind string) string {
	switch kind {
	case "int", "int64", "float64":
		return "number"
	case "bool":
		return "boolean"
	}
	return kind
}
