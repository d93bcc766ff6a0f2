// Command ferretdb serves FerretDB v1.24 on SQLite (pkg/embedded) on a TCP
// port: the offline compose stack's stand-in for MongoDB. It is not
// MongoDB: no replica set, no transactions, non-isolated updates, which is
// what the services are written for (docs/architecture.md, consistency without transactions).
//
//	ferretdb -listen :27017 -data /data/db
//	ferretdb -ping mongodb://127.0.0.1:27017/   # the health check
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/embedded"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ferretdb", flag.ContinueOnError)
	listen := fs.String("listen", ":27017", "address to serve the MongoDB wire protocol on")
	data := fs.String("data", "/data/db", "SQLite data directory")
	ping := fs.String("ping", "", "only ping this MongoDB URI and exit 0 if it answers (health check)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ping != "" {
		return pingOnce(ctx, *ping)
	}
	m, err := embedded.StartFerretDB(ctx, *data, *listen)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "ferretdb: serving on", *listen, "data in", *data)
	<-ctx.Done()
	m.Shutdown()
	return nil
}

func pingOnce(ctx context.Context, uri string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetDirect(true))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	return client.Ping(ctx, nil)
}
