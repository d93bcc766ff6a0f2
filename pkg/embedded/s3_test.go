package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/dossapp/backend/pkg/embedded"
)

func startS3(t *testing.T) (*embedded.S3, *minio.Client) {
	t.Helper()
	s, err := embedded.StartS3(t.Context(), t.TempDir(), "127.0.0.1:0", "test-access", "test-secret-key")
	if err != nil {
		t.Fatalf("StartS3: %v", err)
	}
	t.Cleanup(s.Shutdown)
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Port() == "0" || u.Scheme != "http" {
		t.Fatalf("Endpoint = %q, want http with the bound port", s.Endpoint)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: s.Region,
	})
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	return s, client
}

func TestS3ObjectLifecycle(t *testing.T) {
	_, client := startS3(t)
	ctx := t.Context()
	const bucket = "doss-media"

	if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	body := []byte("avatar bytes")
	if _, err := client.PutObject(ctx, bucket, "avatars/u1.png", bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "image/png"}); err != nil {
		t.Fatalf("put: %v", err)
	}
	if got := getObject(ctx, t, client, bucket, "avatars/u1.png"); !bytes.Equal(got, body) {
		t.Errorf("get = %q, want %q", got, body)
	}

	presigned, err := client.PresignedPutObject(ctx, bucket, "uploads/u1.jpg", 15*time.Minute)
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	uploaded := []byte("uploaded through a presigned URL")
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, presigned.String(), bytes.NewReader(uploaded))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("presigned put: %v", err)
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned put: %s %s", resp.Status, respBody)
	}
	if got := getObject(ctx, t, client, bucket, "uploads/u1.jpg"); !bytes.Equal(got, uploaded) {
		t.Errorf("get presigned upload = %q, want %q", got, uploaded)
	}

	for _, key := range []string{"avatars/u1.png", "uploads/u1.jpg"} {
		if err := client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("remove %s: %v", key, err)
		}
		_, err := client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
		if code := minio.ToErrorResponse(err).Code; code != minio.NoSuchKey {
			t.Errorf("stat %s after remove: code %q (err %v), want NoSuchKey", key, code, err)
		}
	}
}

func TestS3RejectsBadSignature(t *testing.T) {
	s, _ := startS3(t)
	u, _ := url.Parse(s.Endpoint)
	wrong, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, "not-the-secret", ""),
		Region: s.Region,
	})
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	err = wrong.MakeBucket(t.Context(), "doss-media", minio.MakeBucketOptions{})
	if code := minio.ToErrorResponse(err).Code; code != "SignatureDoesNotMatch" {
		t.Fatalf("make bucket with wrong secret: code %q (err %v), want SignatureDoesNotMatch", code, err)
	}
}

func TestS3OnePerProcessAndWorkingDirRestored(t *testing.T) {
	before, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	s, err := embedded.StartS3(t.Context(), t.TempDir(), "127.0.0.1:0", "a", "b")
	if err != nil {
		t.Fatalf("StartS3: %v", err)
	}
	_, err = embedded.StartS3(t.Context(), t.TempDir(), "127.0.0.1:0", "a", "b")
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second StartS3: err = %v, want already running", err)
	}
	s.Shutdown()
	after, err := os.Getwd()
	if err != nil || after != before {
		t.Fatalf("working dir after Shutdown = %q (%v), want %q", after, err, before)
	}
	// A stopped gateway frees the slot.
	s, err = embedded.StartS3(t.Context(), t.TempDir(), "127.0.0.1:0", "a", "b")
	if err != nil {
		t.Fatalf("StartS3 after Shutdown: %v", err)
	}
	s.Shutdown()
}

func TestS3AddrInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = embedded.StartS3(t.Context(), t.TempDir(), taken.Addr().String(), "a", "b")
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("StartS3 on a taken port: err = %v, want EADDRINUSE", err)
	}
	// The failed start released the one-per-process slot.
	s, err := embedded.StartS3(t.Context(), t.TempDir(), "127.0.0.1:0", "a", "b")
	if err != nil {
		t.Fatalf("StartS3 after a failed start: %v", err)
	}
	s.Shutdown()
	s.Shutdown() // a second call is a no-op
}

func getObject(ctx context.Context, t *testing.T, client *minio.Client, bucket, key string) []byte {
	t.Helper()
	obj, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}
