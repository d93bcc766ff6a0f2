package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
	"github.com/versity/versitygw/s3api"
)

const (
	s3Region = "us-east-1"
	// s3HealthPath is served unauthenticated by the gateway; it also hides a
	// bucket of the same name, hence the unlikely name.
	s3HealthPath = "/embedded-healthz"
	// s3RandomPortAttempts bounds retries when a port picked for addr ":0" is
	// taken between picking and binding (see pickFreePort).
	s3RandomPortAttempts = 5
)

// s3Mu guards s3Running. versitygw allows one gateway per process, and its
// posix backend changes the process working directory, so a second gateway
// would break the first one.
var (
	s3Mu      sync.Mutex
	s3Running bool
)

// S3 is an in-process versitygw S3 server on the posix backend: a bucket is a
// directory under the data dir and object metadata lives in xattrs.
type S3 struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
	Region    string

	cancel       context.CancelFunc
	stopped      <-chan struct{} // closed when the gateway has exited
	prevDir      string
	shutdownOnce sync.Once
}

// StartS3 starts versitygw with the posix backend on dataDir (created if
// missing), listening on addr ("127.0.0.1:0" picks a random port), with
// SigV4 authentication for the single account accessKey/secretKey and region
// us-east-1. It returns once the server answers HTTP. ctx bounds only the
// start; the server runs until Shutdown.
//
// Only one S3 may run per process, and while it runs the process working
// directory is dataDir: the posix backend chdirs into its root and resolves
// buckets relative to it. Resolve relative paths before calling StartS3;
// Shutdown restores the previous working directory.
func StartS3(ctx context.Context, dataDir, addr, accessKey, secretKey string) (*S3, error) {
	if accessKey == "" || secretKey == "" {
		return nil, errors.New("embedded s3: access key and secret key are required")
	}
	absDataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded s3: data dir: %w", err)
	}
	if err := os.MkdirAll(absDataDir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded s3: data dir: %w", err)
	}
	if err := (meta.XattrMeta{}).Test(absDataDir); err != nil {
		return nil, fmt.Errorf("embedded s3: %s: %w", absDataDir, err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded s3: addr %q: %w", addr, err)
	}

	s3Mu.Lock()
	defer s3Mu.Unlock()
	if s3Running {
		return nil, errors.New("embedded s3: already running in this process (versitygw allows one gateway per process)")
	}
	prevDir, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("embedded s3: working directory: %w", err)
	}

	attempts := 1
	if port == "0" {
		attempts = s3RandomPortAttempts
	}
	for range attempts {
		listenAddr := addr
		if port == "0" {
			if listenAddr, err = pickFreePort(host); err != nil {
				break
			}
		}
		var s *S3
		s, err = startGateway(ctx, absDataDir, listenAddr, accessKey, secretKey)
		if err == nil {
			s.prevDir = prevDir
			s3Running = true
			return s, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	_ = os.Chdir(prevDir)
	return nil, fmt.Errorf("embedded s3: %w", err)
}

// Shutdown stops the gateway, waits for it to exit and restores the working
// directory the process had before StartS3. Calling it again does nothing.
func (s *S3) Shutdown() {
	s.shutdownOnce.Do(func() {
		s.cancel()
		<-s.stopped
		_ = os.Chdir(s.prevDir)
		s3Mu.Lock()
		s3Running = false
		s3Mu.Unlock()
	})
}

func startGateway(ctx context.Context, dataDir, listenAddr, accessKey, secretKey string) (*S3, error) {
	be, err := posix.New(dataDir, meta.XattrMeta{}, posix.PosixOpts{})
	if err != nil {
		return nil, err
	}
	listening := make(chan struct{})
	cfg := &embedgw.Config{
		RootUserAccess:    accessKey,
		RootUserSecret:    secretKey,
		Region:            s3Region,
		Ports:             []string{listenAddr},
		MaxConnections:    250000, // the versitygw command's defaults
		MaxRequests:       100000,
		MultipartMaxParts: 10000,
		HealthPath:        s3HealthPath,
		Quiet:             true,
		// What the gateway builds when no IAM backend is configured, minus the
		// line it prints to stdout saying so.
		IAMService: auth.NewIAMServiceSingle(auth.Account{Access: accessKey, Secret: secretKey, Role: auth.RoleAdmin}),
		S3Options:  []s3api.Option{s3api.WithOnListen(func() { close(listening) })},
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopped := make(chan struct{})
	var runErr error
	go func() {
		defer close(stopped)
		runErr = embedgw.RunVersityGW(runCtx, be, cfg)
	}()

	select {
	case <-listening:
	case <-stopped:
		cancel()
		// RunVersityGW shuts the backend down only once its servers started.
		be.Shutdown()
		return nil, runErr
	case <-ctx.Done():
		cancel()
		<-stopped
		return nil, ctx.Err()
	}

	s := &S3{
		Endpoint:  "http://" + endpointHost(listenAddr),
		AccessKey: accessKey,
		SecretKey: secretKey,
		Region:    s3Region,
		cancel:    cancel,
		stopped:   stopped,
	}
	if err := probeHealth(ctx, s.Endpoint+s3HealthPath); err != nil {
		cancel()
		<-stopped
		return nil, fmt.Errorf("not ready: %w", err)
	}
	return s, nil
}

// pickFreePort asks the kernel for a free port on host. The gateway binds by
// address string only and never reports its port, so a port-0 listen cannot
// be used directly; the small window before the gateway binds is covered by
// retrying on EADDRINUSE.
func pickFreePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

func probeHealth(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: %s", resp.Status)
	}
	return nil
}
