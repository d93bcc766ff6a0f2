package embedded

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsReadyTimeout bounds how long a start waits for the client listener;
// JetStream recovering a large store dir is the slow part.
const natsReadyTimeout = 30 * time.Second

// NATS is an in-process nats-server with JetStream enabled, which, like
// the real one, lets no connection in without credentials: each bus user
// of contract.BusUsers has an nkey and its permissions, and user "dev" may
// do anything.
//
// Server is replaced by Restart; do not call Restart concurrently with
// anything that reads Server.
type NATS struct {
	// URL carries the dev user's credentials (nats://dev:…@127.0.0.1:port),
	// so a test's nats.Connect(URL) is let in and may do anything.
	URL string
	// HostURL is the address alone: a connection to it must bring its
	// own credentials (ServiceEnv).
	HostURL     string
	Server      *server.Server
	Credentials *BusCredentials

	storeDir string
	port     int
}

// StartNATS starts nats-server on 127.0.0.1 with JetStream storing under
// storeDir, and returns once it accepts client connections. The bus
// credentials are read from storeDir, or generated there on first start.
// A port of -1 picks a random free port.
func StartNATS(storeDir string, port int) (*NATS, error) {
	absStoreDir, err := filepath.Abs(storeDir)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: store dir: %w", err)
	}
	creds, err := loadCredentials(absStoreDir)
	if err != nil {
		return nil, err
	}
	srv, err := startNATSServer(absStoreDir, port, creds)
	if err != nil {
		return nil, err
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		shutdownNATSServer(srv)
		return nil, fmt.Errorf("embedded nats: unexpected listener address %v", srv.Addr())
	}
	host := fmt.Sprintf("127.0.0.1:%d", addr.Port)
	return &NATS{
		URL:         (&url.URL{Scheme: "nats", User: url.UserPassword(DevUser, creds.DevPassword), Host: host}).String(),
		HostURL:     "nats://" + host,
		Server:      srv,
		Credentials: creds,
		storeDir:    absStoreDir,
		port:        addr.Port,
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
	srv, err := startNATSServer(n.storeDir, n.port, n.Credentials)
	if err != nil {
		return err
	}
	n.Server = srv
	return nil
}

func startNATSServer(storeDir string, port int, creds *BusCredentials) (*server.Server, error) {
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  storeDir,
		// An embedded server must leave the host process's signals alone.
		NoSigs: true,
		NoLog:  true,
	}
	if err := creds.authorize(opts); err != nil {
		return nil, err
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
