// Command s3init is the offline compose stack's minio-init job: it creates
// the private bucket if missing and exits 0. A new bucket on versitygw has
// no policy, so there is no anonymous access to remove.
//
//	s3init http://minio:9000 doss-private   # keys from MINIO_ROOT_USER/PASSWORD
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "s3init:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) != 2 {
		return errors.New("usage: s3init ENDPOINT BUCKET")
	}
	u, err := url.Parse(args[0])
	if err != nil {
		return err
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(getenv("MINIO_ROOT_USER"), getenv("MINIO_ROOT_PASSWORD"), ""),
		Secure: u.Scheme == "https",
		Region: "us-east-1",
	})
	if err != nil {
		return err
	}
	bucket := args[1]
	exists, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return err
	}
	if !exists {
		if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			return err
		}
	}
	fmt.Println("s3init: bucket", bucket, "ready")
	return nil
}
