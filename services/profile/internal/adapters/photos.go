// Package adapters holds the profile service's connections to the outside:
// the S3 photo store.
package adapters

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/dossapp/backend/pkg/contract"
)

// S3Config is where photos live.
type S3Config struct {
	Endpoint  string // http(s)://host:port
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string
	LinkTTL   time.Duration
}

// Photos is the S3 photo store. The bucket is created on first write, so
// the service starts while S3 is down and only photo writes fail.
type Photos struct {
	c      *minio.Client
	bucket string
	ttl    time.Duration

	mu    sync.Mutex
	ready bool
}

// NewPhotos makes a client; it does not touch the network.
func NewPhotos(cfg S3Config) (*Photos, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("DOSS_S3_ENDPOINT: want http(s)://host:port, got %q", cfg.Endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: cfg.Region, // known region: presigning needs no round trip
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return &Photos{c: c, bucket: cfg.Bucket, ttl: cfg.LinkTTL}, nil
}

func unavailable(op string, err error) error {
	return &contract.Error{Code: contract.Unavailable, Message: "Photo storage is unavailable. Please try again.", RetryAfter: 5, Op: op, Err: err}
}

func (p *Photos) ensureBucket(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready {
		return nil
	}
	ok, err := p.c.BucketExists(ctx, p.bucket)
	if err != nil {
		return unavailable("s3 bucket exists", err)
	}
	if !ok {
		if err := p.c.MakeBucket(ctx, p.bucket, minio.MakeBucketOptions{}); err != nil {
			if exists, e2 := p.c.BucketExists(ctx, p.bucket); e2 != nil || !exists {
				return unavailable("s3 make bucket", err)
			}
		}
	}
	p.ready = true
	return nil
}

// Put stores a JPEG under key.
func (p *Photos) Put(ctx context.Context, key string, jpeg []byte) error {
	if err := p.ensureBucket(ctx); err != nil {
		return err
	}
	_, err := p.c.PutObject(ctx, p.bucket, key, bytes.NewReader(jpeg), int64(len(jpeg)), minio.PutObjectOptions{ContentType: "image/jpeg"})
	if err != nil {
		return unavailable("s3 put", err)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (p *Photos) Delete(ctx context.Context, key string) error {
	if err := p.c.RemoveObject(ctx, p.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return unavailable("s3 delete", err)
	}
	return nil
}

// URL presigns a GET of key for the link lifetime.
func (p *Photos) URL(ctx context.Context, key string) (string, error) {
	u, err := p.c.PresignedGetObject(ctx, p.bucket, key, p.ttl, nil)
	if err != nil {
		return "", unavailable("s3 presign", err)
	}
	return u.String(), nil
}
