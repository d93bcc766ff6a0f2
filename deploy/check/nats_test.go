package check

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestNATSConfig: deploy/nats/nats.conf is what the nats image reads in
// compose; a server really starts from it (ports and store moved into the
// test) with JetStream on.
func TestNATSConfig(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(filepath.Join(root, "deploy", "nats", "nats.conf"))
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	if !opts.JetStream || opts.StoreDir != "/data" || opts.Port != 4222 || opts.HTTPPort != 8222 {
		t.Fatalf("nats.conf: jetstream=%v store=%q port=%d http=%d; compose expects JetStream in /data (the volume), 4222 and 8222",
			opts.JetStream, opts.StoreDir, opts.Port, opts.HTTPPort)
	}
	opts.Port, opts.HTTPPort, opts.StoreDir = -1, -1, t.TempDir()
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("a server from nats.conf did not start")
	}
	if !s.JetStreamEnabled() {
		t.Fatal("JetStream is off")
	}
}
