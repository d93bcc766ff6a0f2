// Command buskeys prints a fresh set of bus credentials as .env lines
// (make bus-keys): the public nkeys deploy/nats/nats.conf reads, each
// service's seed, and the identity assertion keys. Nothing is written to
// disk; the output is a secret.
package main

import (
	"fmt"

	"github.com/dossapp/backend/pkg/embedded"
)

func main() { fmt.Print(embedded.NewBusCredentials().EnvFile()) }
