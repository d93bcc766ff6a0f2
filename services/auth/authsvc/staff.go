package authsvc

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
	"github.com/dossapp/backend/pkg/events"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/pkg/seal"
	"github.com/dossapp/backend/services/auth/internal/adapters"
	"github.com/dossapp/backend/services/auth/internal/app"
)

// newStaff is the staff store on db, with auth's hasher and a box keyed
// from the OTP secret.
func newStaff(db *mongo.Database, hasher *app.Hasher, otpSecret []byte) (*app.Staff, error) {
	box, err := seal.New(app.StaffBoxKey(otpSecret))
	if err != nil {
		return nil, err
	}
	return &app.Staff{
		Accounts:  adapters.NewStaffAccounts(db.Collection("auth_staff")),
		Sessions:  adapters.NewStaffSessions(db.Collection("auth_staff_sessions")),
		UsedCodes: adapters.NewUsedCodes(db.Collection("auth_staff_codes")),
		Audit:     adapters.NewAuditTrail(db.Collection("auth_audit")),
		Ledger:    adapters.NewCounters(mongox.NewLedger(db.Collection("auth_staff_ledger"), nil)),
		Hasher:    hasher, Box: box, Issuer: "DOSS", Now: time.Now, Limits: app.DefaultStaffLimits(),
	}, nil
}

// auditHandler stores the admin.audited events of the stream in the
// audit collection the console reads.
func auditHandler(st *app.Staff) func(context.Context, contract.Event) error {
	return func(ctx context.Context, ev contract.Event) error {
		var a contract.AdminAudited
		if err := ev.Decode(&a); err != nil {
			return fmt.Errorf("%w: %v", events.ErrPermanent, err)
		}
		return st.Audited(ctx, ev.ID, a)
	}
}

// staffStore opens the store doss-admin and make run's dev admin use: the
// same settings auth reads (DOSS_MONGO_URI, DOSS_OTP_SECRET,
// DOSS_PIN_PEPPER, the argon2 cost), no bus.
func staffStore(ctx context.Context, getenv func(string) string) (*app.Staff, func(), error) {
	e := config.New(getenv)
	c := e.ReadCommon()
	dev := c.Dev()
	codeKey := e.Secret("DOSS_OTP_SECRET", 32, dev, devSecret("otp"))
	pepper := e.Secret("DOSS_PIN_PEPPER", 32, dev, devSecret("pepper"))
	argon := app.Argon2{MemoryKiB: uint32(e.Int("DOSS_ARGON2_MEMORY_KIB", 19456)), Time: uint32(e.Int("DOSS_ARGON2_TIME", 2)), Threads: 1}
	if err := e.Err(); err != nil {
		return nil, nil, err
	}
	client, db, err := mongox.Connect(ctx, c.MongoURI, c.MongoDB)
	if err != nil {
		return nil, nil, err
	}
	st, err := newStaff(db, app.NewHasher(argon, pepper), codeKey)
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, nil, err
	}
	return st, func() { _ = client.Disconnect(context.Background()) }, nil
}

// Admin is doss-admin: create, list, disable, enable, reset (password and
// TOTP) and role. Credentials are printed once.
func Admin(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	usage := errors.New("usage: doss-admin create NAME --role reviewer|support|admin | list | disable NAME | enable NAME | reset NAME | role NAME ROLE")
	if len(args) == 0 {
		return usage
	}
	st, closeStore, err := staffStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeStore()
	cmd, rest := args[0], args[1:]
	name := ""
	if len(rest) > 0 {
		name = rest[0]
	}
	printCreds := func(c contract.StaffCredentials) {
		fmt.Fprintf(stdout, "name:     %s\nrole:     %s\n", c.Name, c.Role)
		if c.Password != "" {
			fmt.Fprintf(stdout, "password: %s\n", c.Password)
		}
		if c.OTPAuthURI != "" {
			fmt.Fprintf(stdout, "totp:     %s\notpauth:  %s\n", c.TOTPSecret, c.OTPAuthURI)
		}
		fmt.Fprintln(stdout, "These are shown once; keep them in a password manager.")
	}
	const by = "doss-admin"
	switch cmd {
	case "create":
		fs := flag.NewFlagSet("create", flag.ContinueOnError)
		role := fs.String("role", contract.RoleReviewer, "reviewer, support or admin")
		if len(rest) < 1 {
			return usage
		}
		if err := fs.Parse(rest[1:]); err != nil {
			return err
		}
		c, err := st.Create(ctx, by, contract.StaffCreateRequest{Name: name, Role: *role})
		if err != nil {
			return err
		}
		printCreds(c)
	case "list":
		l, err := st.List(ctx)
		if err != nil {
			return err
		}
		for _, m := range l.Staff {
			state := "enabled"
			if m.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(stdout, "%-24s %-9s %-8s %s\n", m.Name, m.Role, state, m.CreatedAt.Format(time.RFC3339))
		}
	case "disable", "enable":
		d := cmd == "disable"
		if _, err := st.Update(ctx, by, contract.StaffUpdateRequest{Name: name, Disabled: &d}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %sd\n", name, cmd)
	case "reset":
		c, err := st.Reset(ctx, name)
		if err != nil {
			return err
		}
		printCreds(c)
	case "role":
		if len(rest) != 2 {
			return usage
		}
		if _, err := st.Update(ctx, by, contract.StaffUpdateRequest{Name: name, Role: rest[1]}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s\n", name, rest[1])
	default:
		return usage
	}
	return nil
}

// DevAdmin is the staff member make run creates.
const DevAdmin = "dev-admin"

// EnsureDevAdmin makes sure make run's dev-admin exists and that path
// holds its credentials ({name, password, totp_secret}); an existing pair
// is kept, so an authenticator app set up once keeps working.
func EnsureDevAdmin(ctx context.Context, getenv func(string) string, path string) error {
	if getenv("DOSS_ENV") != "dev" {
		return errors.New("the dev admin is for dev mode only")
	}
	st, closeStore, err := staffStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeStore()
	if _, err := os.Stat(path); err == nil {
		if list, err := st.List(ctx); err == nil {
			for _, m := range list.Staff {
				if m.Name == DevAdmin {
					return nil
				}
			}
		}
	}
	c, err := st.Create(ctx, "make run", contract.StaffCreateRequest{Name: DevAdmin, Role: contract.RoleAdmin})
	var ce *contract.Error
	if errors.As(err, &ce) && ce.Code == contract.Invalid {
		c, err = st.Reset(ctx, DevAdmin) // it exists, its file was lost
	}
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(map[string]string{"name": c.Name, "password": c.Password, "totp_secret": c.TOTPSecret}, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// CreateStaff creates a staff member in the store getenv names (tests and
// tools; the console itself creates through auth.v1.staff-create).
func CreateStaff(ctx context.Context, getenv func(string) string, name, role string) (contract.StaffCredentials, error) {
	st, closeStore, err := staffStore(ctx, getenv)
	if err != nil {
		return contract.StaffCredentials{}, err
	}
	defer closeStore()
	return st.Create(ctx, "test", contract.StaffCreateRequest{Name: name, Role: role})
}

// StaffCode is the TOTP code of a base32 secret for the step at t, plus
// steps (what an authenticator app shows).
func StaffCode(secret string, t time.Time, steps int) (string, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return "", err
	}
	return app.StaffTOTP.Code(raw, uint64(int64(app.StaffTOTP.Counter(t))+int64(steps))), nil
}
