package check

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestServiceReadsAuth(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	reads, err := ServiceReads(root, filepath.Join(root, "services", "auth"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key      string
		required bool
		prodOnly bool
		def      string
	}{
		{"DOSS_OTP_SECRET", true, true, ""},                      // Secret
		{"DOSS_JWT_SIGNING_KEY", true, true, ""},                 // Required, only when !dev
		{"DOSS_NATS_URL", false, false, "nats://127.0.0.1:4222"}, // pkg/config
		{"DOSS_METRICS_ADDR", false, false, ""},                  // pkg/obs
		{"DOSS_NATS_REPLICAS", false, false, ""},                 // pkg/config, an Int
		{"OTEL_EXPORTER_OTLP_ENDPOINT", false, false, ""},        // pkg/obs
	} {
		r, ok := reads[c.key]
		if !ok {
			t.Errorf("%s not found among auth's reads", c.key)
			continue
		}
		if r.Required() != c.required || r.ProdOnly != c.prodOnly || r.Default != c.def {
			t.Errorf("%s read as %+v; want required=%v prodOnly=%v default=%q", c.key, r, c.required, c.prodOnly, c.def)
		}
	}
	if _, ok := reads["DOSS_S3_BUCKET"]; ok {
		t.Error("auth is said to read profile's DOSS_S3_BUCKET")
	}
}

func TestCheckEnv(t *testing.T) {
	s := func(v string) *string { return &v }
	reads := map[string]Read{
		"DOSS_ENV":      {Key: "DOSS_ENV", Kind: "String", Default: "prod"},
		"DOSS_NATS_URL": {Key: "DOSS_NATS_URL", Kind: "String", Default: "nats://127.0.0.1:4222"},
		"DOSS_KEY":      {Key: "DOSS_KEY", Kind: "Secret", ProdOnly: true},
		"DOSS_ADDR":     {Key: "DOSS_ADDR", Kind: "Required"},
	}
	for _, c := range []struct {
		name string
		env  map[string]*string
		want string // "" = no problem
	}{
		{"complete dev", map[string]*string{"DOSS_ENV": s("dev"), "DOSS_NATS_URL": s("nats://nats:4222"), "DOSS_KEY": s(""), "DOSS_ADDR": s(":1")}, ""},
		{"typo", map[string]*string{"DOSS_ENV": s("dev"), "DOSS_NATS_URL": s("nats://nats:4222"), "DOSS_KEY": s(""), "DOSS_ADDR": s(":1"), "DOSS_NAT_URL": s("x")}, "DOSS_NAT_URL"},
		{"local default", map[string]*string{"DOSS_ENV": s("dev"), "DOSS_KEY": s(""), "DOSS_ADDR": s(":1")}, "DOSS_NATS_URL"},
		{"secret not listed", map[string]*string{"DOSS_ENV": s("dev"), "DOSS_NATS_URL": s("n"), "DOSS_ADDR": s(":1")}, "DOSS_KEY"},
		{"secret empty in prod", map[string]*string{"DOSS_ENV": s("prod"), "DOSS_NATS_URL": s("n"), "DOSS_KEY": s(""), "DOSS_ADDR": s(":1")}, "DOSS_KEY"},
		{"required missing", map[string]*string{"DOSS_ENV": s("dev"), "DOSS_NATS_URL": s("n"), "DOSS_KEY": s("")}, "DOSS_ADDR"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			checkEnv(func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) }, reads, c.env)
			all := strings.Join(got, "; ")
			if c.want == "" && len(got) > 0 || c.want != "" && (len(got) != 1 || !strings.Contains(all, c.want)) {
				t.Errorf("problems %q; want exactly one about %q", all, c.want)
			}
		})
	}
}
