package embedded

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/dossapp/backend/pkg/contract"
)

// BusCredentials are an embedded server's users and the identity
// assertion key, generated into its store dir on first start and read
// back after, so a `make run` data dir keeps working across restarts.
type BusCredentials struct {
	// Seeds are the nkey seeds of the bus users (contract.BusUsers).
	Seeds map[string]string `json:"seeds"`
	// DevPassword is the password of user "dev", who may do anything: the
	// test kits' and the developer's own connection (NATS.URL carries it).
	DevPassword string `json:"dev_password"`
	// AssertionSeed is the Ed25519 seed of the identity assertions.
	AssertionSeed []byte `json:"assertion_seed"`
}

// DevUser is the embedded server's all-powerful user.
const DevUser = "dev"

const credentialsFile = "bus-credentials.json"

// loadCredentials reads dir's credentials, creating them when missing
// and adding a seed for any bus user that is new since.
func loadCredentials(dir string) (*BusCredentials, error) {
	path := filepath.Join(dir, credentialsFile)
	c := &BusCredentials{}
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, c); err != nil {
			return nil, fmt.Errorf("embedded nats: %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if !c.fill() {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	out, _ := json.MarshalIndent(c, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	return c, nil
}

// NewBusCredentials makes a fresh set (make bus-keys, for compose and
// Kubernetes).
func NewBusCredentials() *BusCredentials {
	c := &BusCredentials{}
	c.fill()
	return c
}

// fill generates whatever c lacks and says whether it did.
func (c *BusCredentials) fill() bool {
	changed := false
	if c.Seeds == nil {
		c.Seeds = map[string]string{}
	}
	for _, u := range contract.BusUsers {
		if c.Seeds[u.Name] != "" {
			continue
		}
		kp, _ := nkeys.CreateUser() // fails only if the system has no randomness
		seed, _ := kp.Seed()
		c.Seeds[u.Name], changed = string(seed), true
	}
	if c.DevPassword == "" {
		c.DevPassword, changed = randomText(), true
	}
	if len(c.AssertionSeed) != ed25519.SeedSize {
		c.AssertionSeed, changed = make([]byte, ed25519.SeedSize), true
		_, _ = rand.Read(c.AssertionSeed)
	}
	return changed
}

// PublicKey is bus user name's nkey, which the server's config names.
func (c *BusCredentials) PublicKey(name string) string {
	kp, err := nkeys.FromSeed([]byte(c.Seeds[name]))
	if err != nil {
		return ""
	}
	pub, _ := kp.PublicKey()
	return pub
}

// NKeyVar is the variable deploy/nats/nats.conf and the Helm values read a
// bus user's public nkey from.
func NKeyVar(user string) string { return "DOSS_NKEY_" + strings.ToUpper(user) }

// EnvFile is c as the lines of a .env file: the public nkeys for the
// server, the seeds (DOSS_NATS_SEED_<USER>) and the assertion keys for the
// services.
func (c *BusCredentials) EnvFile() string {
	var b strings.Builder
	key := c.AssertionKey()
	for _, u := range contract.BusUsers {
		fmt.Fprintf(&b, "%s=%s\n%s=%s\n", NKeyVar(u.Name), c.PublicKey(u.Name), SeedVar(u.Name), c.Seeds[u.Name])
	}
	fmt.Fprintf(&b, "DOSS_BUS_SIGNING_KEY=%s\nDOSS_BUS_VERIFY_KEYS=%s\n",
		base64.StdEncoding.EncodeToString(key.Seed()), base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)))
	// What the NATS nodes of the compose cluster show each other (nats.conf).
	fmt.Fprintf(&b, "DOSS_NATS_ROUTE_PASSWORD=%s\n", RoutePassword())
	return b.String()
}

// RoutePassword is a fresh password for the compose cluster's routes. NATS's
// config reader takes a variable's value as a number when it starts with a
// digit or a sign (and fails: "Expected a digit"), and the route URLs carry
// it as userinfo, so it is letters and digits, a letter first: 33
// characters, about 196 bits.
func RoutePassword() string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	const alnum = letters + "0123456789"
	b := make([]byte, 33)
	for i := range b {
		from := alnum
		if i == 0 {
			from = letters
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(from)))) // fails only if the system has no randomness
		b[i] = from[n.Int64()]
	}
	return string(b)
}

func randomText() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AssertionKey is the key the embedded stack's processes sign callers'
// identities with.
func (c *BusCredentials) AssertionKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(c.AssertionSeed)
}

// authorize adds c's users, each with its permissions from
// contract.BusUsers, to opts.
func (c *BusCredentials) authorize(opts *server.Options) error {
	opts.Users = []*server.User{{Username: DevUser, Password: c.DevPassword}}
	for _, u := range contract.BusUsers {
		kp, err := nkeys.FromSeed([]byte(c.Seeds[u.Name]))
		if err != nil {
			return fmt.Errorf("embedded nats: seed of %s: %w", u.Name, err)
		}
		pub, _ := kp.PublicKey()
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: pub, Permissions: ServerPermissions(u)})
	}
	return nil
}

// ServerPermissions are u's rights in nats-server's terms: what
// deploy/nats/nats.conf spells out by hand.
func ServerPermissions(u contract.BusUser) *server.Permissions {
	pub, sub := u.Permissions()
	p := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
	if u.Serves {
		p.Response = &server.ResponsePermission{MaxMsgs: contract.ReplyMessages, Expires: time.Minute}
	}
	return p
}

// ServiceEnv is what the embedded stack's processes need to join this
// server: the URL without credentials, each bus user's seed as
// DOSS_NATS_SEED_<USER> (the stack hands each service its own as
// DOSS_NATS_SEED), and the assertion keys.
func (n *NATS) ServiceEnv() map[string]string {
	key := n.Credentials.AssertionKey()
	env := map[string]string{
		"DOSS_NATS_URL":        n.HostURL,
		"DOSS_BUS_SIGNING_KEY": base64.StdEncoding.EncodeToString(key.Seed()),
		"DOSS_BUS_VERIFY_KEYS": base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
	}
	for name, seed := range n.Credentials.Seeds {
		env[SeedVar(name)] = seed
	}
	return env
}

// SeedVar is the variable that carries a bus user's seed in a getenv
// shared by several services (one process running them all).
func SeedVar(user string) string { return "DOSS_NATS_SEED_" + strings.ToUpper(user) }
