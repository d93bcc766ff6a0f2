// Command s3d serves versitygw's S3 gateway on its posix backend
// (pkg/embedded), with the root credentials MinIO reads
// (MINIO_ROOT_USER, MINIO_ROOT_PASSWORD): the offline compose stack's
// stand-in for MinIO. Its health check is the probe binary on
// /embedded-healthz.
//
//	s3d -listen :9000 -data /data
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dossapp/backend/pkg/embedded"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "s3d:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("s3d", flag.ContinueOnError)
	listen := fs.String("listen", ":9000", "address to serve S3 on")
	data := fs.String("data", "/data", "directory holding the buckets")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := embedded.StartS3(ctx, *data, *listen, getenv("MINIO_ROOT_USER"), getenv("MINIO_ROOT_PASSWORD"))
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "s3d: serving on", *listen, "data in", *data)
	<-ctx.Done()
	s.Shutdown()
	return nil
}
