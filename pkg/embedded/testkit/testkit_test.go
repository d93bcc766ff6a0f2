package testkit_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dossapp/backend/pkg/embedded/testkit"
)

func TestStartParallelStacks(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("group", func(t *testing.T) {
		for i := range 3 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				s := testkit.Start(t)
				checkNATS(t, s.NATS.URL)
				checkMongo(t, s.Mongo.URI)
				checkS3(t, s.S3.Endpoint, fmt.Sprintf("stack-%d", i))
			})
		}
	})
	// The group has ended, so the shared S3 stopped and gave the working
	// directory back; a new stack gets a fresh, empty S3.
	if got, err := os.Getwd(); err != nil || got != wd {
		t.Fatalf("working dir = %q (%v), want %q", got, err, wd)
	}
	s := testkit.Start(t)
	buckets, err := s3Client(t, s.S3.Endpoint).ListBuckets(t.Context())
	if err != nil {
		t.Fatalf("list buckets: %v", err)
	}
	if len(buckets) != 0 {
		t.Errorf("buckets left from earlier stacks: %v", buckets)
	}
}

func TestStartNATS(t *testing.T) {
	checkNATS(t, testkit.StartNATS(t).URL)
}

func checkNATS(t *testing.T, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("ping")
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := nc.Publish("ping", []byte("pong")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("next: %v", err)
	}
}

func checkMongo(t *testing.T, uri string) {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("mongo connect: %v", err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	if _, err := client.Database("doss").Collection("c").InsertOne(t.Context(), bson.D{{Key: "k", Value: 1}}); err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func checkS3(t *testing.T, endpoint, bucket string) {
	t.Helper()
	client := s3Client(t, endpoint)
	if err := client.MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	if _, err := client.PutObject(t.Context(), bucket, "k", bytes.NewReader([]byte("v")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put: %v", err)
	}
}

func s3Client(t *testing.T, endpoint string) *minio.Client {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(testkit.S3AccessKey, testkit.S3SecretKey, ""),
		Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return client
}
