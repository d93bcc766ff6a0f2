package embedded

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsReadyTimeout bounds how long a start waits for the client listener;
// JetStream recovering a large store dir is the slow part.
const natsReadyTimeout = 30 * time.Second

// NATS is an in-process nats-server with JetStream enabled.
//
// Server is replaced by Restart; do not call Restart concurrently with
// anything that reads Server.
type NATS struct {
	URL    string // nats://127.0.0.1:port
	Server *server.Server

	storeDir string
	port     int
}

// StartNATS starts nats-server on 127.0.0.1 with JetStream storing under
// storeDir, and returns once it accepts client connections. A port of -1
// picks a random free port.
func StartNATS(storeDir string, port int) (*NATS, error) {
	absStoreDir, err := filepath.Abs(storeDir)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: store dir: %w", err)
	}
	srv, err := startNATSServer(absStoreDir, port)
	if err != nil {
		return nil, err
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		shutdownNATSServer(srv)
		return nil, fmt.Errorf("embedded nats: unexpected listener address %v", srv.Addr())
	}
	return &NATS{
		URL:      fmt.Sprintf("nats://127.0.0.1:%d", addr.Port),
		Server:   srv,
		storeDir: absStoreDir,
		port:     addr.Port,
	}, nil
}

// Shutdown stops the server and waits until it has fully stopped.
func (n *NATS) Shutdown() {
	shutdownNATSServer(n.Server)
}

// Restart stops the server and starts a new one on the same port and store
// dir, so n.URL stays valid and JetStream state is recovered from disk.
// Connected clients see a disconnect and reconnect on their own.
func (n *NATS) Restart() error {
	n.Shutdown()
	srv, err := startNATSServer(n.storeDir, n.port)
	if err != nil {
		return err
	}
	n.Server = srv
	return nil
}

func startNATSServer(storeDir string, port int) (*server.Server, error) {
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  storeDir,
		// An embedded server must leave the host process's signals alone.
		NoSigs: true,
		NoLog:  true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(natsReadyTimeout) {
		shutdownNATSServer(srv)
		return nil, errors.New("embedded nats: not ready for connections in time")
	}
	if !srv.JetStreamEnabled() {
		shutdownNATSServer(srv)
		return nil, errors.New("embedded nats: JetStream did not start")
	}
	return srv, nil
}

func shutdownNATSServer(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}
