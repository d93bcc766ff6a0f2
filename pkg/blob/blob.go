// Package blob is the private object store (any S3-compatible server):
// bounded reads, presigned links a phone can use without a token, the
// bucket created on first use, and every failure an Unavailable with a
// Retry-After rather than a hang or a 500.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/dossapp/backend/pkg/config"
	"github.com/dossapp/backend/pkg/contract"
)

// Config is where objects live.
type Config struct {
	Endpoint string // http(s)://host:port the services reach
	// PublicEndpoint is the host in presigned links, the one phones reach;
	// SigV4 signs the host, so links are signed for it. Default Endpoint.
	PublicEndpoint string
	AccessKey      string
	SecretKey      string
	Region         string
	Bucket         string
	// Timeout bounds one operation, so an unreachable store fails fast.
	Timeout time.Duration
}

// ReadConfig reads DOSS_S3_ENDPOINT, DOSS_S3_PUBLIC_ENDPOINT,
// DOSS_S3_ACCESS_KEY, DOSS_S3_SECRET_KEY, DOSS_S3_REGION, DOSS_S3_BUCKET
// and DOSS_S3_TIMEOUT.
func ReadConfig(e *config.Env) Config {
	c := Config{
		Endpoint:  e.String("DOSS_S3_ENDPOINT", "http://127.0.0.1:9000"),
		AccessKey: e.String("DOSS_S3_ACCESS_KEY", ""),
		SecretKey: e.String("DOSS_S3_SECRET_KEY", ""),
		Region:    e.String("DOSS_S3_REGION", "us-east-1"),
		Bucket:    e.String("DOSS_S3_BUCKET", "doss-private"),
		Timeout:   e.Duration("DOSS_S3_TIMEOUT", 10*time.Second),
	}
	c.PublicEndpoint = e.String("DOSS_S3_PUBLIC_ENDPOINT", c.Endpoint)
	return c
}

// Store is one bucket.
type Store struct {
	c       *minio.Client // talks to the store
	public  *minio.Client // only signs links for the public host
	bucket  string
	timeout time.Duration

	mu    sync.Mutex
	ready bool
}

// ErrNotFound is a key with no object.
var ErrNotFound = errors.New("no such object")

// New makes the clients; it does not touch the network.
func New(cfg Config) (*Store, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.PublicEndpoint == "" {
		cfg.PublicEndpoint = cfg.Endpoint
	}
	c, err := client("DOSS_S3_ENDPOINT", cfg.Endpoint, cfg, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	pub, err := client("DOSS_S3_PUBLIC_ENDPOINT", cfg.PublicEndpoint, cfg, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &Store{c: c, public: pub, bucket: cfg.Bucket, timeout: cfg.Timeout}, nil
}

func client(name, endpoint string, cfg Config, timeout time.Duration) (*minio.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%s: want http(s)://host:port, got %q", name, endpoint)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = timeout
	c, err := minio.New(u.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     u.Scheme == "https",
		Region:     cfg.Region, // known region: presigning needs no round trip
		Transport:  tr,
		MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return c, nil
}

func unavailable(op string, err error) error {
	return &contract.Error{Code: contract.Unavailable, Message: "File storage is unavailable. Please try again.", RetryAfter: 5, Op: op, Err: err}
}

func (s *Store) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

func (s *Store) ensureBucket(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return nil
	}
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return unavailable("s3 bucket exists", err)
	}
	if !ok {
		if err := s.c.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{}); err != nil {
			if exists, e2 := s.c.BucketExists(ctx, s.bucket); e2 != nil || !exists {
				return unavailable("s3 make bucket", err)
			}
		}
	}
	s.ready = true
	return nil
}

// Put stores data under key.
func (s *Store) Put(ctx context.Context, key string, data []byte, contentType string) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	if err := s.ensureBucket(ctx); err != nil {
		return err
	}
	_, err := s.c.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return unavailable("s3 put", err)
	}
	return nil
}

// Info is what Stat tells of an object.
type Info struct {
	Size        int64
	ContentType string
}

// Stat describes key; ErrNotFound when there is no object.
func (s *Store) Stat(ctx context.Context, key string) (Info, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	oi, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if missing(err) {
			return Info{}, ErrNotFound
		}
		return Info{}, unavailable("s3 stat", err)
	}
	return Info{Size: oi.Size, ContentType: oi.ContentType}, nil
}

// Get reads key; ErrNotFound when there is no object, TooLarge when it
// holds more than max bytes (nothing beyond max+1 is read).
func (s *Store) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	obj, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, unavailable("s3 get", err)
	}
	defer func() { _ = obj.Close() }()
	data, err := io.ReadAll(io.LimitReader(obj, max+1))
	if err != nil {
		if missing(err) {
			return nil, ErrNotFound
		}
		return nil, unavailable("s3 get", err)
	}
	if int64(len(data)) > max {
		return nil, &contract.Error{Code: contract.TooLarge, Message: "The file is too large."}
	}
	return data, nil
}

// Delete removes key; a missing key is success.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	if err := s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil && !missing(err) {
		return unavailable("s3 delete", err)
	}
	return nil
}

// DeleteOlder deletes every object under prefix last modified before
// cutoff and says how many it deleted (on a failure, how many went before
// it). An object already gone is success, so replicas may sweep the same
// prefix at once; no bucket yet means nothing to delete.
//
// The listing is not bounded by the store's Timeout, since a large prefix
// takes many pages; each page waits at most Timeout for its answer (the
// transport's ResponseHeaderTimeout) and each delete is bounded like any
// operation. Callers bound the whole sweep through ctx.
func (s *Store) DeleteOlder(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	if prefix == "" {
		// The whole bucket: a caller's bug must not age out every object.
		return 0, errors.New("blob: DeleteOlder needs a prefix")
	}
	deleted := 0
	for obj := range s.c.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			if minio.ToErrorResponse(obj.Err).Code == minio.NoSuchBucket {
				return deleted, nil
			}
			return deleted, unavailable("s3 list", obj.Err)
		}
		if !obj.LastModified.Before(cutoff) {
			continue
		}
		if err := s.Delete(ctx, obj.Key); err != nil {
			return deleted, err
		}
		deleted++
	}
	// The listing stops silently when ctx ends; that is no complete sweep.
	if err := ctx.Err(); err != nil {
		return deleted, unavailable("s3 list", err)
	}
	return deleted, nil
}

// List returns the keys under prefix; no bucket yet is none.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for obj := range s.c.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			if minio.ToErrorResponse(obj.Err).Code == minio.NoSuchBucket {
				return nil, nil
			}
			return keys, unavailable("s3 list", obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys, ctx.Err()
}

// GetURL presigns a GET of key on the public host for ttl.
func (s *Store) GetURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	u, err := s.public.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return "", unavailable("s3 presign get", err)
	}
	return u.String(), nil
}

// PutURL presigns a PUT of key on the public host for ttl, of exactly
// size bytes: the length is a signed header, so the store refuses a body
// of any other length (a presigned PUT with no length took up to the
// store's largest object, 5 GiB on S3, a link at a time). The bucket is
// made first: the phone cannot make it.
func (s *Store) PutURL(ctx context.Context, key string, ttl time.Duration, size int64) (string, error) {
	bctx, cancel := s.bounded(ctx)
	defer cancel()
	if err := s.ensureBucket(bctx); err != nil {
		return "", err
	}
	u, err := s.public.PresignHeader(ctx, http.MethodPut, s.bucket, key, ttl, nil, http.Header{"Content-Length": {strconv.FormatInt(size, 10)}})
	if err != nil {
		return "", unavailable("s3 presign put", err)
	}
	return u.String(), nil
}

func missing(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound" || code == "NoSuchBucket"
}
