// Command devstack is `make run`: embedded NATS with JetStream, FerretDB on
// SQLite and an S3 server, every service, and the gateway on
// 127.0.0.1:8080 in dev mode, with data kept under ./.data.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/embedded"
	"github.com/dossapp/backend/pkg/obs"
	"github.com/dossapp/backend/services/auth/authsvc"
	"github.com/dossapp/backend/services/devstack/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	e := config.New(getenv)
	dir := e.String("DOSS_DATA_DIR", ".data")
	httpAddr := e.String("DOSS_HTTP_ADDR", "127.0.0.1:8080")
	natsPort := e.Int("DOSS_DEV_NATS_PORT", 4222)
	mongoAddr := e.String("DOSS_DEV_MONGO_ADDR", "127.0.0.1:27017")
	s3Addr := e.String("DOSS_DEV_S3_ADDR", "127.0.0.1:9000")
	if err := e.Err(); err != nil {
		return err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	start := time.Now()
	ns, err := embedded.StartNATS(filepath.Join(dir, "nats"), natsPort)
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	mongo, err := embedded.StartFerretDB(ctx, filepath.Join(dir, "ferretdb"), mongoAddr)
	if err != nil {
		return err
	}
	defer mongo.Shutdown()
	s3, err := embedded.StartS3(ctx, filepath.Join(dir, "s3"), s3Addr, "dossdev", "dossdev-secret-key")
	if err != nil {
		return err
	}
	defer s3.Shutdown()

	// Each service joins the bus as its own user, with the credentials
	// generated into the data dir on the first start.
	vars := map[string]string{
		"DOSS_ENV":           "dev",
		"DOSS_MONGO_URI":     mongo.URI,
		"DOSS_S3_ENDPOINT":   s3.Endpoint,
		"DOSS_S3_ACCESS_KEY": s3.AccessKey,
		"DOSS_S3_SECRET_KEY": s3.SecretKey,
		"DOSS_HTTP_ADDR":     httpAddr,
		// One process, one registry and one tracer: the ops listener and
		// tracing are started once below, not by each service.
		"DOSS_METRICS_ADDR":    "",
		"OTEL_TRACES_EXPORTER": "none",
	}
	for k, v := range ns.ServiceEnv() {
		vars[k] = v
	}
	env := stack.Env(vars, getenv)
	ops, err := obs.Start(getenv, "devstack", nil)
	if err != nil {
		return err
	}
	defer ops.Stop()
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		return err
	}
	defer nc.Close()
	all, err := stack.StartAll(nc, env, stdout)
	if err != nil {
		return err
	}
	defer all.Stop()
	// A newcomer signs in to the console at once: dev-admin's password and
	// TOTP secret are in the data dir (make run only; doss-admin elsewhere).
	devAdmin := filepath.Join(dir, "dev-admin.json")
	if err := authsvc.EnsureDevAdmin(ctx, env, devAdmin); err != nil {
		return fmt.Errorf("dev admin: %w", err)
	}
	fmt.Fprintf(stdout, "\nConsole: http://%s/console/ as dev-admin (password and TOTP secret in %s)\n", all.Addr, devAdmin)
	fmt.Fprintf(stdout, "\nDOSS is up in %s: http://%s (dev mode, data in %s). Ctrl-C stops it.\n\n", time.Since(start).Round(time.Millisecond), all.Addr, dir)
	<-ctx.Done()
	return nil
}
