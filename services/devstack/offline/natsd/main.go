// Command natsd is nats-server built from its Go module, for the offline
// compose stack: the same flags as the nats-server command (-c FILE, ...),
// so deploy/nats/nats.conf is read unchanged.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("nats-server", flag.ExitOnError)
	opts, err := server.ConfigureOptions(fs, args, server.PrintServerAndExit, fs.Usage, server.PrintTLSHelpAndDie)
	if err != nil {
		return err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return err
	}
	if err := server.Run(srv); err != nil {
		return err
	}
	srv.WaitForShutdown() // SIGTERM/SIGINT are handled by the server (lame duck on SIGUSR2)
	return nil
}
