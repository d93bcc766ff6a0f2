// Command seed is `make seed N=...`: it grows a `make run` data dir to N
// accounts, written straight into the stores in bulk through each
// service's seed helper, in the shape a whole registration leaves (an
// active account with its email, phone and user id claims, its profile,
// and one document per ten accounts), so the cost of a large store can be
// tried in minutes. Every seeded account logs in with its phone and the
// PIN (-pin). Stop `make run` first: the seed opens the store itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/mongox"
	"github.com/dossapp/backend/services/devstack/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	e := config.New(getenv)
	dir := fs.String("dir", e.String("DOSS_DATA_DIR", ".data"), "the data dir of `make run`")
	n := fs.Int("n", 1000, "grow the store to this many seeded accounts")
	pin := fs.String("pin", "4829", "every seeded account's PIN")
	db := fs.String("db", e.String("DOSS_MONGO_DB", "doss"), "the database the services use")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	m, err := embedded.StartFerretDB(ctx, filepath.Join(abs, "ferretdb"), "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("the store (is make run still running on %s?): %w", abs, err)
	}
	defer m.Shutdown()
	client, database, err := mongox.Connect(ctx, m.URI, *db)
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	counter := filepath.Join(abs, "seeded")
	have, err := seededSoFar(counter)
	if err != nil {
		return err
	}
	if have >= *n {
		fmt.Fprintf(stdout, "%s holds %d seeded accounts already\n", abs, have)
		return nil
	}
	start := time.Now()
	// The services read their settings (the PIN pepper and hash cost
	// among them) from the same environment as make run.
	env := func(k string) string {
		if k == "DOSS_ENV" && getenv(k) == "" {
			return "dev"
		}
		return getenv(k)
	}
	for from := have; from < *n; from += stack.SeedBatch {
		to := min(from+stack.SeedBatch, *n)
		if err := stack.Seed(ctx, env, database, *pin, from, to); err != nil {
			return err
		}
		if err := os.WriteFile(counter, []byte(strconv.Itoa(to)), 0o644); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "seeded %d accounts (%d to %d) in %s, %.0f accounts/s; %s holds %d; each logs in with its phone (%s …) and PIN %s\n",
		*n-have, have, *n-1, took.Round(time.Millisecond), float64(*n-have)/took.Seconds(), abs, *n, stack.SeedPhone(0), *pin)
	return nil
}

// seededSoFar is how many accounts earlier seeds wrote into the data dir.
func seededSoFar(file string) (int, error) {
	raw, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}
