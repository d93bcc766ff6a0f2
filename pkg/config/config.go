// Package config reads a service's settings from its environment once, in
// run, and reports every bad value at once.
package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Env reads typed values through a getenv function and collects errors.
type Env struct {
	getenv func(string) string
	errs   []error
}

func New(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Err returns every problem found so far, nil when none.
func (e *Env) Err() error { return errors.Join(e.errs...) }

func (e *Env) fail(key string, err error) {
	e.errs = append(e.errs, fmt.Errorf("%s: %w", key, err))
}

func (e *Env) String(key, def string) string {
	if v := strings.TrimSpace(e.getenv(key)); v != "" {
		return v
	}
	return def
}

// Required reads a value that has no sensible default.
func (e *Env) Required(key string) string {
	v := strings.TrimSpace(e.getenv(key))
	if v == "" {
		e.fail(key, errors.New("is required"))
	}
	return v
}

func (e *Env) Int(key string, def int) int {
	v := strings.TrimSpace(e.getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.fail(key, fmt.Errorf("not an integer: %q", v))
		return def
	}
	return n
}

func (e *Env) Int64(key string, def int64) int64 {
	v := strings.TrimSpace(e.getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		e.fail(key, fmt.Errorf("not an integer: %q", v))
		return def
	}
	return n
}

func (e *Env) Bool(key string, def bool) bool {
	v := strings.TrimSpace(e.getenv(key))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(key, fmt.Errorf("not a boolean: %q", v))
		return def
	}
	return b
}

func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v := strings.TrimSpace(e.getenv(key))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.fail(key, fmt.Errorf("not a duration: %q", v))
		return def
	}
	return d
}

// Secret reads a base64 value of at least minLen bytes. In dev mode a
// missing secret falls back to devDefault so that `make run` needs no setup;
// in production it is an error.
func (e *Env) Secret(key string, minLen int, dev bool, devDefault []byte) []byte {
	v := strings.TrimSpace(e.getenv(key))
	if v == "" {
		if dev {
			return devDefault
		}
		e.fail(key, errors.New("is required outside dev mode"))
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(v)
	}
	if err != nil {
		e.fail(key, errors.New("is not base64"))
		return nil
	}
	if len(b) < minLen {
		e.fail(key, fmt.Errorf("must be at least %d bytes", minLen))
		return nil
	}
	return b
}

// Common is what every service reads.
type Common struct {
	Env      string // "dev" or "prod"
	NATSURL  string
	MongoURI string
	MongoDB  string
	// StreamReplicas is how many JetStream servers keep each stream (1 on a
	// single node, 3 on a 3-node cluster). Every service ensures the streams
	// at start, so all must read the same value.
	StreamReplicas int
	// Bus is how the service joins NATS and vouches for its callers.
	Bus Bus
}

// Bus is how a process joins NATS: as which nkey user, and with which keys
// it signs and verifies the callers' identity (natsx).
type Bus struct {
	URL string
	// Seed is the nkey user's seed (DOSS_NATS_SEED); empty connects
	// without credentials, which only a dev server without users accepts.
	Seed string
	// SigningKey (DOSS_BUS_SIGNING_KEY, base64 of a 32-byte Ed25519 seed)
	// signs the identity of this service's callers; VerifyKeys
	// (DOSS_BUS_VERIFY_KEYS, comma-separated base64 public keys) are the
	// keys it believes.
	SigningKey ed25519.PrivateKey
	VerifyKeys []ed25519.PublicKey
}

func (c Common) Dev() bool { return c.Env == "dev" }

// ReadCommon reads DOSS_ENV, DOSS_NATS_URL, DOSS_MONGO_URI, DOSS_MONGO_DB,
// DOSS_NATS_REPLICAS and the bus credentials (DOSS_NATS_SEED,
// DOSS_BUS_SIGNING_KEY, DOSS_BUS_VERIFY_KEYS): outside dev mode the seed and
// the verify keys are required.
func (e *Env) ReadCommon() Common {
	c := Common{
		Env:      e.String("DOSS_ENV", "prod"),
		NATSURL:  e.String("DOSS_NATS_URL", "nats://127.0.0.1:4222"),
		MongoURI: e.String("DOSS_MONGO_URI", "mongodb://127.0.0.1:27017/"),
		MongoDB:  e.String("DOSS_MONGO_DB", "doss"),
	}
	c.StreamReplicas = e.Int("DOSS_NATS_REPLICAS", 1)
	if c.Env != "dev" && c.Env != "prod" {
		e.fail("DOSS_ENV", fmt.Errorf("must be dev or prod, not %q", c.Env))
	}
	c.Bus = e.readBus(c.NATSURL, c.Dev())
	return c
}

const busSigningKey = "DOSS_BUS_SIGNING_KEY"

func (e *Env) readBus(url string, dev bool) Bus {
	b := Bus{URL: url, Seed: e.String("DOSS_NATS_SEED", "")}
	if b.Seed == "" && !dev {
		e.Required("DOSS_NATS_SEED")
	}
	if v := e.String("DOSS_BUS_SIGNING_KEY", ""); v != "" {
		seed, err := decodeKey(v, ed25519.SeedSize)
		if err != nil {
			e.fail(busSigningKey, err)
		} else {
			b.SigningKey = ed25519.NewKeyFromSeed(seed)
		}
	}
	for _, v := range strings.Split(e.String("DOSS_BUS_VERIFY_KEYS", ""), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		k, err := decodeKey(v, ed25519.PublicKeySize)
		if err != nil {
			e.fail("DOSS_BUS_VERIFY_KEYS", err)
			continue
		}
		b.VerifyKeys = append(b.VerifyKeys, ed25519.PublicKey(k))
	}
	if len(b.VerifyKeys) == 0 && !dev {
		e.Required("DOSS_BUS_VERIFY_KEYS")
	}
	return b
}

// RequireBusSigner is for a service that calls others on its callers'
// behalf: outside dev mode it needs DOSS_BUS_SIGNING_KEY.
func (e *Env) RequireBusSigner(c Common) {
	if c.Bus.SigningKey == nil && !c.Dev() {
		// Not e.Required: deploy/check finds who needs the key from
		// contract.BusUsers (those that call others), not from this line.
		e.fail(busSigningKey, errors.New("is required outside dev mode"))
	}
}

func decodeKey(v string, size int) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(v)
	}
	if err != nil {
		return nil, errors.New("is not base64")
	}
	if len(b) != size {
		return nil, fmt.Errorf("must be %d bytes, not %d", size, len(b))
	}
	return b, nil
}

// DevNotifyKey is the dev-mode key auth seals codes with and the notifier
// opens them with; both must agree, so it lives here. Never used in prod.
var DevNotifyKey = []byte("DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD")
